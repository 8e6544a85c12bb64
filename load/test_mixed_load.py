"""A busy Monday morning, bounded: 64 clients for LOAD_SECONDS (60 by default) — members signing in (some with a
wrong code first), administrators viewing pages, single and bulk MFA resets, members suspended, reactivated and
moved between roles, people invited (some twice at once) and invitations revoked — against one server. No 5xx, no
connection error, the audit chain intact, and every kind of audit event counted exactly as often as clients were
told it happened."""

import asyncio
import collections
import os
import random
import time
import uuid

from latchkey_load import PASSWORD, Phone, client, sign_in

DURATION = float(os.environ.get("LOAD_SECONDS", "60"))
SIGN_IN_CLIENTS, PAGE_CLIENTS, SINGLE_RESET_CLIENTS, BULK_RESET_CLIENTS, LIFECYCLE_CLIENTS = 30, 18, 8, 4, 2
INVITE_CLIENTS = 2


class Tally:
    """What the clients were told: audit events implied by answers, answers by status, and anything unexpected."""

    def __init__(self):
        self.events = collections.Counter()
        self.statuses = collections.Counter()
        self.unexpected = []
        self.errors = []
        self.requests = 0

    def answer(self, what, response, expected):
        self.requests += 1
        self.statuses[response.status_code] += 1
        if response.status_code not in expected:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:200]}")
            return False
        return True


async def sign_in_client(server, tally, phone, members, deadline, rng):
    async with client(server) as http:
        while time.time() < deadline:
            member = next((m for m in rng.sample(members, len(members)) if phone.available(m["totpSecret"])), None)
            if member is None:
                await asyncio.sleep(1)
                continue
            login = await http.post("/api/v1/auth/login", json={"email": member["email"], "password": PASSWORD})
            if not tally.answer("login", login, {200}):
                continue
            tally.events[("auth.password", "success")] += 1
            headers = {"X-CSRF-Token": login.json()["csrfToken"]}
            if rng.random() < 0.3:
                wrong = await http.post("/api/v1/auth/mfa", json={"code": await phone.wrong_code(member["totpSecret"])},
                                        headers=headers)
                if tally.answer("wrong code", wrong, {401}):
                    tally.events[("auth.mfa", "failure")] += 1
            mfa = await http.post("/api/v1/auth/mfa", json={"code": await phone.code(member["totpSecret"])},
                                  headers=headers)
            if not tally.answer("code", mfa, {200}):
                continue
            tally.events[("auth.mfa", "success")] += 1
            tally.answer("session", await http.get("/api/v1/auth/session"), {200})
            tally.answer("overview", await http.get("/"), {200})
            if tally.answer("logout", await http.post("/api/v1/auth/logout", headers=headers), {200}):
                tally.events[("auth.sign_out", "success")] += 1


async def page_client(server, tally, cookies, paths, deadline, rng):
    async with client(server) as http:
        http.cookies = cookies
        while time.time() < deadline:
            path = rng.choice(paths)
            tally.answer(f"GET {path}", await http.get(path), {200})


async def single_reset_client(server, tally, session, targets, owner_id, deadline, rng):
    cookies, csrf = session
    async with client(server) as http:
        http.cookies = cookies
        while time.time() < deadline:
            target = owner_id if rng.random() < 0.1 else rng.choice(targets)
            response = await http.post(f"/api/v1/members/{target}/mfa/reset", json={"reason": "load"},
                                       headers={"X-CSRF-Token": csrf})
            if tally.answer("single reset", response, {200, 403, 429}):
                if response.status_code == 200:
                    status = response.json()["status"]
                    tally.events[("mfa.reset", "success" if status == "reset" else status)] += 1
                elif response.status_code == 403:
                    if response.json()["error"]["code"] == "insufficient_privilege":
                        tally.events[("mfa.reset", "denied")] += 1
                    else:
                        tally.unexpected.append(f"single reset: {response.text[:200]}")
            await asyncio.sleep(0.3)


async def bulk_reset_client(server, tally, session, targets, owner_id, deadline, rng):
    cookies, csrf = session
    async with client(server) as http:
        http.cookies = cookies
        while time.time() < deadline:
            ids = rng.sample(targets, 6) + [str(uuid.uuid4())] + ([owner_id] if rng.random() < 0.5 else [])
            response = await http.post("/api/v1/members/mfa/reset", json={"memberIds": ids, "reason": "load"},
                                       headers={"X-CSRF-Token": csrf, "Idempotency-Key": str(uuid.uuid4())})
            if tally.answer("bulk reset", response, {200, 429}) and response.status_code == 200:
                for result in response.json()["results"]:
                    status = {"reset": "success", "skipped": "skipped", "failed": "denied"}[result["status"]]
                    tally.events[("mfa.reset", status)] += 1
            await asyncio.sleep(0.5)


async def lifecycle_client(server, tally, session, targets, roles, deadline, rng):
    """Suspends, reactivates and moves members between two roles, a few at a time (the bulk route, so each member's
    outcome — changed or skipped — is known and counted)."""
    cookies, csrf = session
    async with client(server) as http:
        http.cookies = cookies
        while time.time() < deadline:
            ids = rng.sample(targets, 3)
            action = rng.choice(["suspend", "reactivate", "role"])
            body = {"memberIds": ids, "reason": "load"}
            if action == "role":
                body["roleId"] = rng.choice(roles)
            response = await http.post(f"/api/v1/members/{action}", json=body, headers={"X-CSRF-Token": csrf})
            if tally.answer(f"bulk {action}", response, {200}):
                event = {"suspend": "member.suspended", "reactivate": "member.reactivated",
                         "role": "member.role_changed"}[action]
                for result in response.json()["results"]:
                    outcome = {"changed": "success", "skipped": "skipped"}.get(result["status"])
                    if outcome is None:
                        tally.unexpected.append(f"bulk {action}: {result}")
                    else:
                        tally.events[(event, outcome)] += 1
            await asyncio.sleep(0.4)


async def invite_client(server, tally, session, deadline, rng, n):
    """Invites three people at a time — two of its own and one that the other inviting client may be inviting at
    the same moment — and now and then revokes one of its invitations."""
    cookies, csrf = session
    invited = []
    round_ = 0
    async with client(server) as http:
        http.cookies = cookies
        while time.time() < deadline:
            round_ += 1
            rows = [{"email": f"load{n}-{round_}-{k}@invitee.test"} for k in range(2)]
            rows.append({"email": f"shared-{round_}@invitee.test", "name": "Shared"})
            response = await http.post("/api/v1/invitations/bulk", json={"invitations": rows, "roleId": "Member"},
                                       headers={"X-CSRF-Token": csrf})
            if tally.answer("bulk invite", response, {200}):
                for result in response.json()["results"]:
                    if result["status"] == "invited":
                        tally.events[("member.invited", "success")] += 1
                        invited.append(result["id"])
                    elif result["code"] != "already_invited":
                        tally.unexpected.append(f"bulk invite: {result}")
            if invited and rng.random() < 0.3:
                victim = invited.pop(rng.randrange(len(invited)))
                response = await http.post(f"/api/v1/invitations/{victim}/revoke", headers={"X-CSRF-Token": csrf})
                if tally.answer("revoke invitation", response, {200}):
                    tally.events[("member.invitation_revoked", "success")] += 1
            await asyncio.sleep(0.3)


async def signed_in(server, tally, phone, email):
    """An administrator's session (cookies and CSRF token), counted like any sign-in."""
    async with client(server) as http:
        csrf = await sign_in(http, email, server.accounts[email]["totpSecret"], phone)
        tally.events[("auth.password", "success")] += 1
        tally.events[("auth.mfa", "success")] += 1
        return http.cookies, csrf


def test_mixed_load_64_clients(server):
    accounts = server.accounts
    enabled = sorted((a for a in accounts.values()
                      if a["organization"] == "Acme" and a["role"] == "Member" and a["mfaStatus"] == "enabled"
               and a["status"] == "active" and not a["locked"]),
                     key=lambda a: a["email"])
    signers, reset_pool = enabled[:120], enabled[120:]
    ids = {email: row[0] for email, row in
           ((a["email"], server.rows("SELECT id FROM members WHERE email = ?", a["email"])[0]) for a in accounts.values()
            if a["organization"] == "Acme")}
    not_set_up = [a for a in accounts.values() if a["organization"] == "Acme" and a["mfaStatus"] == "not_set_up"][:20]
    targets = [ids[a["email"]] for a in reset_pool + not_set_up]
    owner_id = ids["owner@acme.test"]
    # Lifecycle targets: members after a reset, whom neither the signing-in nor the resetting clients touch.
    movable = [ids[a["email"]] for a in accounts.values()
               if a["organization"] == "Acme" and a["role"] == "Member" and a["mfaStatus"] == "reset_pending"]
    roles = [server.rows("SELECT r.id FROM roles r JOIN organizations o ON o.id = r.organization_id "
                         "WHERE o.slug = 'acme' AND r.name = ?", name)[0][0] for name in ["Member", "Support"]]
    baseline = server.audit_counts()
    tally = Tally()
    phone = Phone()

    async def run():
        owner, admin, admin2, helpdesk, support = [
            await signed_in(server, tally, phone, email)
            for email in ["owner@acme.test", "admin@acme.test", "admin2@acme.test", "helpdesk@acme.test",
                          "support@acme.test"]]
        deadline = time.time() + DURATION
        admin_paths = ["/members", "/members?query=ana", "/members?mfa=enabled&limit=100", "/members?status=locked",
                       "/audit", "/api/v1/members?limit=50", "/api/v1/audit-events?limit=50", "/"]
        support_paths = ["/members", "/members?query=lee", "/api/v1/members?mfa=not_set_up", "/"]
        tasks = []
        per_signer = len(signers) // SIGN_IN_CLIENTS
        for n in range(SIGN_IN_CLIENTS):
            share = signers[n * per_signer:(n + 1) * per_signer]
            tasks.append(sign_in_client(server, tally, phone, share, deadline, random.Random(n)))
        for n in range(PAGE_CLIENTS):
            session = [owner, admin, support][n % 3]
            paths = support_paths if session is support else admin_paths
            tasks.append(page_client(server, tally, session[0], paths, deadline, random.Random(100 + n)))
        for n in range(SINGLE_RESET_CLIENTS):
            tasks.append(single_reset_client(server, tally, [admin, helpdesk][n % 2], targets, owner_id, deadline,
                                             random.Random(200 + n)))
        for n in range(BULK_RESET_CLIENTS):
            tasks.append(bulk_reset_client(server, tally, [owner, admin2][n % 2], targets, owner_id, deadline,
                                           random.Random(300 + n)))
        for n in range(LIFECYCLE_CLIENTS):
            tasks.append(lifecycle_client(server, tally, [support, admin][n % 2], movable, roles, deadline,
                                          random.Random(400 + n)))
        for n in range(INVITE_CLIENTS):
            tasks.append(invite_client(server, tally, [owner, admin][n % 2], deadline, random.Random(500 + n), n))
        assert len(tasks) == 64
        started = time.time()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        tally.errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
        return time.time() - started

    elapsed = asyncio.run(run())
    server.stop()
    counts = server.audit_counts()
    delta = {key: counts[key] - baseline[key] for key in set(counts) | set(baseline) if counts[key] != baseline[key]}
    verified = server.audit_verify()
    print(f"[{server.engine}] mixed load, 64 clients for {elapsed:.0f} s: {tally.requests} requests "
          f"({tally.requests / elapsed:.0f}/s), answers {dict(sorted(tally.statuses.items()))}; "
          f"audit events written {dict(sorted(delta.items()))}; {verified.stdout.strip()}")
    assert tally.errors == [], f"connection errors or client failures: {tally.errors[:5]}"
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert tally.unexpected == [], tally.unexpected[:10]
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr
    assert tally.events[("auth.mfa", "success")] > 50 and tally.events[("mfa.reset", "success")] > 0
    assert tally.events[("member.suspended", "success")] > 0 and tally.events[("member.role_changed", "success")] > 0
    assert tally.events[("member.invited", "success")] > 0
    # Every kind of event exactly as often as the clients were told; nothing else (no lockout, no reuse).
    assert delta == {key: value for key, value in tally.events.items() if value}
    assert server.errors_logged() == []
