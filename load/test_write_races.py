"""Every kind of write aimed at the same few rows at once, on both engines: 32 clients, two administrators, eight
members, one custom role and two invitations, each request a random single or bulk MFA reset, suspension,
reactivation, role change, role edit, invitation, resend or revocation. Written after schemathesis's two workers
found a resend and a revoke of one invitation crashing the server, and this test then found PostgreSQL deadlocks
(a reset holding member rows and inserting its mail, a role change holding the organization's row and waiting for
those members). No 5xx, no connection error, nothing logged as an error, the audit chain intact, every event
counted as often as the clients were told it happened, and the role edits' audit trail one unbroken sequence that
ends in the role's permissions."""

import asyncio
import collections
import random
import uuid

from latchkey_load import Phone, client, sign_in

CLIENTS, REQUESTS_EACH = 32, 25
LIFECYCLE = {"suspend": "member.suspended", "reactivate": "member.reactivated", "role": "member.role_changed"}
CHOICES = ["members.view", "audit.view"]


class Tally:
    def __init__(self):
        self.exact = collections.Counter()  # (action, result) known from the answer
        self.loose = collections.Counter()  # action whose result is success or skipped (a single 200)
        self.statuses = collections.Counter()
        self.unexpected = []

    def answer(self, what, response, expected):
        self.statuses[response.status_code] += 1
        if response.status_code not in expected:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:200]}")
            return False
        return True


def test_every_write_on_the_same_rows_at_once(server):
    acme = [a for a in server.accounts.values() if a["organization"] == "Acme"]
    targets = sorted(server.rows("SELECT id FROM members WHERE email = ?", a["email"])[0][0] for a in acme
                     if a["role"] == "Member" and a["mfaStatus"] == "enabled" and a["status"] == "active"
                     and not a["locked"])[:8]
    assert len(targets) == 8
    member_role = server.rows("SELECT r.id FROM roles r JOIN organizations o ON o.id = r.organization_id "
                              "WHERE o.slug = 'acme' AND r.name = 'Member'")[0][0]
    baseline = server.audit_counts()
    tally = Tally()
    phone = Phone()
    invited = set()

    async def scenario():
        sessions = []
        for email in ["owner@acme.test", "admin@acme.test"]:
            async with client(server) as http:
                csrf = await sign_in(http, email, server.accounts[email]["totpSecret"], phone)
                sessions.append((http.cookies, {"X-CSRF-Token": csrf}))
        async with client(server) as http:
            http.cookies = sessions[0][0]
            created = await http.post("/api/v1/roles", headers=sessions[0][1],
                                      json={"name": "Racers", "permissions": ["members.view"]})
            assert created.status_code == 201, created.text
        racers = created.json()["id"]
        roles = [member_role, racers]

        async def one(http, headers, rng):
            kind = rng.randrange(11)
            target = rng.choice(targets)
            some = rng.sample(targets, 3)
            if kind == 0:
                r = await http.post(f"/api/v1/members/{target}/mfa/reset", headers=headers, json={"reason": "race"})
                if tally.answer("reset", r, {200, 429}) and r.status_code == 200:
                    tally.exact[("mfa.reset", "success" if r.json()["status"] == "reset" else "skipped")] += 1
            elif kind == 1:
                r = await http.post("/api/v1/members/mfa/reset", json={"memberIds": some, "reason": "race"},
                                    headers=dict(headers, **{"Idempotency-Key": str(uuid.uuid4())}))
                if tally.answer("bulk reset", r, {200, 429}) and r.status_code == 200:
                    for result in r.json()["results"]:
                        status = {"reset": "success", "skipped": "skipped", "failed": "denied"}[result["status"]]
                        tally.exact[("mfa.reset", status)] += 1
            elif kind in (2, 3, 4):
                action = ["suspend", "reactivate", "role"][kind - 2]
                body = {"reason": "race"} | ({"roleId": rng.choice(roles)} if action == "role" else {})
                r = await http.post(f"/api/v1/members/{target}/{action}", headers=headers, json=body)
                if tally.answer(f"single {action}", r, {200}):
                    tally.loose[LIFECYCLE[action]] += 1
            elif kind in (5, 6, 7):
                action = ["suspend", "reactivate", "role"][kind - 5]
                body = {"memberIds": some, "reason": "race"} | (
                    {"roleId": rng.choice(roles)} if action == "role" else {})
                r = await http.post(f"/api/v1/members/{action}", headers=headers, json=body)
                if tally.answer(f"bulk {action}", r, {200}):
                    for result in r.json()["results"]:
                        outcome = {"changed": "success", "skipped": "skipped"}.get(result["status"])
                        if outcome is None:
                            tally.unexpected.append(f"bulk {action}: {result}")
                        else:
                            tally.exact[(LIFECYCLE[action], outcome)] += 1
            elif kind == 8:
                if headers is not sessions[0][1]:
                    return  # roles are the owner's to edit
                wanted = rng.sample(CHOICES, rng.randrange(1, 3))
                r = await http.post(f"/api/v1/roles/{racers}", headers=headers, json={"permissions": wanted})
                tally.answer("role edit", r, {200})
            elif kind == 9:
                email = f"racer{rng.randrange(2)}@invitee.test"
                r = await http.post("/api/v1/invitations", headers=headers,
                                    json={"email": email, "roleId": member_role})
                if tally.answer("invite", r, {201, 409}) and r.status_code == 201:
                    tally.exact[("member.invited", "success")] += 1
                    invited.add(r.json()["id"])
            else:
                pending = sorted(invited)
                if not pending:
                    return
                action = rng.choice(["resend", "resend", "revoke"])
                r = await http.post(f"/api/v1/invitations/{rng.choice(pending)}/{action}", headers=headers, json={})
                if tally.answer(action, r, {200, 404}) and r.status_code == 200:
                    tally.exact[(f"member.invitation_{action}{'d' if action == 'revoke' else ''}"
                                 .replace("resend", "resent"), "success")] += 1

        async def worker(n):
            rng = random.Random(n)
            cookies, headers = sessions[n % 2]
            async with client(server) as http:
                http.cookies = cookies
                for _ in range(REQUESTS_EACH):
                    await one(http, headers, rng)

        outcomes = await asyncio.gather(*[worker(n) for n in range(CLIENTS)], return_exceptions=True)
        return racers, [repr(o) for o in outcomes if isinstance(o, BaseException)]

    racers, errors = asyncio.run(scenario())
    server.stop()
    counts = server.audit_counts()
    delta = collections.Counter({key: counts[key] - baseline[key] for key in counts if counts[key] != baseline[key]})
    verified = server.audit_verify()
    print(f"[{server.engine}] {CLIENTS} clients × {REQUESTS_EACH} writes on 8 members: answers "
          f"{dict(sorted(tally.statuses.items()))}; events {dict(sorted(delta.items()))}")
    assert errors == [], errors[:5]
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert tally.unexpected == [], tally.unexpected[:10]
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr
    assert server.errors_logged() == []
    # Every event as often as the clients were told (a single suspension answers 200 whether it changed anything
    # or not: success and skipped together).
    for (action, result), told in tally.exact.items():
        if action not in LIFECYCLE.values() or result == "denied":
            assert delta[(action, result)] == told, (action, result, delta[(action, result)], told)
    for action in LIFECYCLE.values():
        told = tally.exact[(action, "success")] + tally.exact[(action, "skipped")] + tally.loose[action]
        assert delta[(action, "success")] + delta[(action, "skipped")] == told, action
        assert tally.loose[action] > 0 and delta[(action, "success")] > 0
    assert tally.exact[("mfa.reset", "success")] > 0 and tally.exact[("member.invited", "success")] > 0
    assert tally.exact[("member.invitation_resent", "success")] > 0
    # The role edits, in the order the chain holds them: each starts where the one before ended, and the last ends
    # in what the role holds now.
    edits = [row[0] for row in server.rows(
        "SELECT reason FROM audit_events WHERE action = 'role.updated' AND result = 'success' ORDER BY seq")]
    assert len(edits) > 1
    held = "members.view"
    for reason in edits:
        before, after = reason.removeprefix("permissions: ").split(" → ")
        assert before == held, edits
        held = after
    now = server.rows("SELECT permissions FROM roles WHERE name = 'Racers'")[0][0]
    assert sorted(now.split(",")) == sorted(p.strip() for p in held.split(","))
