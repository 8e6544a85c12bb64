"""API tokens under concurrency, on both engines: 100 MFA resets at once through one token (the creator's
per-minute limit holds, no member reset twice, every event naming the token), 100 revocations of one token at once (one
revocation recorded, then the token refused), and 100 mints at once for one member (exactly the cap). No 5xx."""

import asyncio
import collections

from latchkey_load import Phone, client, sign_in

OWNER = "owner@acme.test"


def test_a_token_under_a_burst_of_resets_revocations_and_mints(server):
    owner = server.accounts[OWNER]
    enabled = [row[0] for row in server.rows(
        "SELECT m.id FROM members m JOIN organizations o ON o.id = m.organization_id JOIN roles r ON r.id = m.role_id "
        "WHERE o.slug = 'acme' AND r.name = 'Member' AND m.mfa_status = 'enabled' AND m.status = 'active' "
        "ORDER BY m.email LIMIT 25")]
    assert len(enabled) == 25

    async def scenario():
        async with client(server) as http:
            csrf = await sign_in(http, OWNER, owner["totpSecret"], Phone())
            minted = await http.post("/api/v1/tokens", headers={"X-CSRF-Token": csrf}, json={
                "name": "load", "permissions": ["members.view", "members.manage", "members.reset_mfa"],
                "expiresInDays": 7})
            assert minted.status_code == 201, minted.text
            token = minted.json()["token"]
            bearer = {"Authorization": f"Bearer {token}"}
            # 100 resets at once: four for each of 25 members.
            resets = await asyncio.gather(*[
                http.post(f"/api/v1/members/{enabled[i % 25]}/mfa/reset", headers=bearer,
                          json={"reason": "load"}) for i in range(100)])
            revokes = await asyncio.gather(*[
                http.post(f"/api/v1/tokens/{minted.json()['id']}/revoke", headers={"X-CSRF-Token": csrf})
                for _ in range(100)])
            after = await http.get("/api/v1/members", headers=bearer)
            mints = await asyncio.gather(*[
                http.post("/api/v1/tokens", headers={"X-CSRF-Token": csrf}, json={
                    "name": f"m{i}", "permissions": ["members.view"], "expiresInDays": 7}) for i in range(100)])
            return minted.json()["id"].lower(), resets, revokes, after, mints

    token_id, resets, revokes, after, mints = asyncio.run(scenario())
    statuses = collections.Counter(r.status_code for r in resets)
    print(f"[{server.engine}] 100 resets through one token: {dict(statuses)}")
    # The per-actor limit (30 a minute) holds for a token as for its creator; the rest are told to wait.
    assert statuses == {200: 30, 429: 70}, [r.text for r in resets if r.status_code not in (200, 429)][:3]
    answered = [(enabled[i % 25], r.json()["status"]) for i, r in enumerate(resets) if r.status_code == 200]
    reset = [member for member, status in answered if status == "reset"]
    assert len(reset) == len(set(reset)) == len({member for member, _ in answered})  # once each, never twice
    events = server.rows("SELECT actor_token_id, result FROM audit_events WHERE action = 'mfa.reset'")
    counted = collections.Counter(result for _, result in events)
    assert counted["success"] == len(reset) and counted["skipped"] == len(answered) - len(reset)
    assert {str(token).lower() for token, _ in events} == {token_id}
    left = server.rows(
        "SELECT COUNT(*) AS n FROM totp_credentials WHERE member_id IN (" + ",".join("?" * 25) + ")", *enabled)
    assert int(left[0][0]) == 25 - len(reset)

    assert collections.Counter(r.status_code for r in revokes) == {200: 100}
    assert len(server.rows("SELECT id FROM audit_events WHERE action = 'token.revoked'")) == 1
    assert after.status_code == 401 and after.json()["error"]["code"] == "invalid_token"

    assert collections.Counter(r.status_code for r in mints) == {201: 50, 409: 50}
    assert int(server.rows("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")[0][0]) == 50
    assert not server.errors_logged()
    assert server.audit_verify().returncode == 0
