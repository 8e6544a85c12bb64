"""100 writes to one row at once, on both engines, for the paths an identity provider and an administrator drive:
100 SCIM PATCHes of one user (a third suspending, a third reactivating, a third renaming) and 100 enables and disables
of one webhook endpoint. No 5xx; every change audited exactly once, so the suspensions and reactivations alternate,
each rename starts from the name the previous one left, the endpoint's disables and enables alternate, and the row
ends as its last event says. Written after this test found two disables of one endpoint both audited."""

import asyncio
import collections

from latchkey_load import Server, client, run

OWNER = "owner@acme.test"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def token(server):
    output = run("token", "create", "--database", server.database, "--email", OWNER, "--name", "races",
                 "--permissions", "members.view,members.manage,org.settings,audit.view,scim.provision",
                 "--days", "7").stdout
    return next(line for line in output.splitlines() if line.startswith("lk_"))


def events(server, actions, target=None):
    """(action, reason, target id) of the organization's successful events with these actions, in chain order (a
    request that found the row already as it wanted is audited as skipped)."""
    rows = server.rows(
        "SELECT e.action, e.reason, e.target_id FROM audit_events e JOIN organizations o ON o.id = e.organization_id "
        "WHERE o.slug = 'acme' AND e.result = 'success' AND e.action IN (" + ",".join("?" * len(actions)) + ") ORDER BY e.seq", *actions)
    return [(a, r, str(t).lower()) for a, r, t in rows if target is None or str(t).lower() == target.lower()]


def alternate(kinds, first):
    """Whether the kinds alternate, starting with `first` (two in a row would be a change counted twice)."""
    return bool(kinds) and kinds[0] == first and all(a != b for a, b in zip(kinds, kinds[1:]))


def test_a_hundred_writes_to_one_scim_user_and_one_webhook_at_once(databases, tmp_path):
    server = Server(databases, tmp_path / "server", env={"LATCHKEY_WEBHOOK_ALLOW_PRIVATE": "1"})
    try:
        bearer = {"Authorization": "Bearer " + token(server)}
        target, email, name = server.rows(
            "SELECT m.id, m.email, m.name FROM members m JOIN organizations o ON o.id = m.organization_id "
            "JOIN roles r ON r.id = m.role_id WHERE o.slug = 'acme' AND r.name = 'Member' AND m.status = 'active' "
            "ORDER BY m.email LIMIT 1")[0]
        target = str(target).lower()

        async def scenario():
            async with client(server) as http:
                created = await http.post("/api/v1/webhooks", headers=bearer, json={
                    "url": "http://127.0.0.1:9/hooks", "description": "races", "eventTypes": ["member.suspended"]})
                assert created.status_code == 201, created.text
                hook = created.json()["id"]

                def scim(i):
                    operation = [{"op": "replace", "path": "active", "value": False},
                                 {"op": "replace", "path": "active", "value": True},
                                 {"op": "replace", "path": "displayName", "value": f"Racer {i}"}][i % 3]
                    return http.patch(f"/scim/v2/Users/{target}", headers=bearer,
                                      json={"schemas": [PATCH], "Operations": [operation]})

                patched = await asyncio.gather(*[scim(i) for i in range(100)])
                toggled = await asyncio.gather(*[
                    http.post(f"/api/v1/webhooks/{hook}/{'disable' if i % 2 == 0 else 'enable'}", headers=bearer)
                    for i in range(100)])
                user = await http.get(f"/scim/v2/Users/{target}", headers=bearer)
                endpoint = await http.get(f"/api/v1/webhooks/{hook}", headers=bearer)
                return hook, patched, toggled, user, endpoint

        hook, patched, toggled, user, endpoint = asyncio.run(scenario())
        statuses = collections.Counter(r.status_code for r in patched)
        toggles = collections.Counter(r.status_code for r in toggled)
        print(f"[{server.engine}] 100 SCIM PATCHes of one user: {dict(statuses)}; "
              f"100 enables/disables of one endpoint: {dict(toggles)}")
        assert statuses == {200: 100}, [r.text for r in patched if r.status_code != 200][:3]
        assert toggles == {200: 100}, [r.text for r in toggled if r.status_code != 200][:3]

        # The user: suspensions and reactivations alternate, from active; it ends as the last one says.
        lifecycle = [a for a, _, _ in events(server, ["member.suspended", "member.reactivated"], target)]
        assert alternate(lifecycle, "member.suspended"), lifecycle
        assert user.json()["active"] == (lifecycle[-1] == "member.reactivated")
        status = server.rows("SELECT status FROM members WHERE email = ?", email)[0][0]
        assert status == ("active" if lifecycle[-1] == "member.reactivated" else "suspended")
        # Each rename starts where the previous one left the name, and the last one's name is the user's.
        renames = [r for _, r, _ in events(server, ["member.profile_changed"], target)]
        assert 1 <= len(renames) <= 34
        current = name
        for reason in renames:
            before, after = reason.removeprefix("name: ").split(" → ")
            assert before == current, (before, current)
            current = after
        assert user.json()["displayName"] == current
        assert server.rows("SELECT name FROM members WHERE email = ?", email)[0][0] == current

        # The endpoint: disables and enables alternate, from enabled; it ends as the last one says.
        webhook = [a for a, _, _ in events(server, ["webhook.disabled", "webhook.enabled"])]
        assert alternate(webhook, "webhook.disabled"), webhook
        assert endpoint.json()["status"] == ("enabled" if webhook[-1] == "webhook.enabled" else "disabled")
        assert not server.errors_logged(), server.errors_logged()[:3]
        assert server.audit_verify().returncode == 0
    finally:
        server.stop()
