"""Forty members sign in at the same moment, password then code from their phones: forty successes."""

import asyncio
import collections

from latchkey_load import PASSWORD, Phone, client


def test_40_members_sign_in_at_once(server):
    members = [a for a in server.accounts.values()
               if a["organization"] == "Acme" and a["role"] == "Member" and a["mfaStatus"] == "enabled"
               and a["status"] == "active" and not a["locked"]][:40]
    assert len(members) == 40
    phone = Phone()
    # The demo holds a member locked on purpose; this test must leave no throttle row of its own.
    throttles_before = int(server.rows("SELECT count(*) FROM sign_in_throttles")[0][0])

    async def run():
        codes = {m["email"]: await phone.code(m["totpSecret"]) for m in members}
        clients = [client(server) for _ in members]
        try:
            logins = await asyncio.gather(
                *[http.post("/api/v1/auth/login", json={"email": m["email"], "password": PASSWORD})
                  for http, m in zip(clients, members)], return_exceptions=True)
            mfas = await asyncio.gather(
                *[http.post("/api/v1/auth/mfa", json={"code": codes[m["email"]]},
                            headers={"X-CSRF-Token": login.json()["csrfToken"]})
                  for http, m, login in zip(clients, members, logins)], return_exceptions=True)
            sessions = await asyncio.gather(*[http.get("/api/v1/auth/session") for http in clients])
            return logins, mfas, sessions
        finally:
            await asyncio.gather(*[http.aclose() for http in clients])

    logins, mfas, sessions = asyncio.run(run())
    statuses = (collections.Counter(getattr(r, "status_code", type(r).__name__) for r in logins),
                collections.Counter(getattr(r, "status_code", type(r).__name__) for r in mfas))
    print(f"[{server.engine}] 40 sign-ins at once: password {dict(statuses[0])}, code {dict(statuses[1])}")
    assert statuses == (collections.Counter({200: 40}), collections.Counter({200: 40}))
    assert {s.json()["member"]["email"] for s in sessions} == {m["email"] for m in members}
    assert all(s.json()["status"] == "signed_in" for s in sessions)
    audit = server.audit_counts()
    assert audit[("auth.password", "success")] == 40
    assert audit[("auth.mfa", "success")] == 40
    assert int(server.rows("SELECT count(*) FROM sign_in_throttles")[0][0]) == throttles_before
    assert server.errors_logged() == []
