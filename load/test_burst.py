"""A burst of wrong passwords on one account, all at once: every answer 401 or 429, never 5xx; exactly the attempts
the schedule allows are checked, and what the server counted and audited equals them."""

import asyncio
import collections
import re

from latchkey_load import client

OWNER = "owner@acme.test"


async def burst(server, email, count):
    async with client(server) as http:
        return await asyncio.gather(
            *[http.post("/api/v1/auth/login", json={"email": email, "password": "not-the-password-1"})
              for _ in range(count)], return_exceptions=True)


def test_120_wrong_passwords_at_once(server):
    responses = asyncio.run(burst(server, OWNER, 120))
    failures = [r for r in responses if isinstance(r, Exception)]
    assert not failures, f"connection errors: {failures[:3]}"
    statuses = collections.Counter(r.status_code for r in responses)
    print(f"[{server.engine}] 120 wrong passwords at once: {dict(statuses)}")
    assert set(statuses) <= {401, 429}, statuses
    checked = statuses[401]
    # The schedule holds for a burst exactly as for a series: five free failures, then a wait.
    assert checked == 5
    assert server.throttle_failures("password_address", OWNER) == checked
    assert server.throttle_failures("password_account", OWNER) == checked
    audit = server.audit_counts()
    assert audit[("auth.password", "failure")] == checked
    assert audit[("auth.lockout", "denied")] == 1
    refused = [r for r in responses if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "too_many_attempts" for r in refused)
    waits = collections.Counter(int(r.headers["retry-after"]) for r in refused)
    print(f"[{server.engine}] Retry-After: {dict(waits)}")
    # 30 s after the fifth failure (a request that read the clock just before it, then queued, may add a second).
    assert min(waits) >= 1 and max(waits) <= 31

    # An email no account has gets the same answers, in the same words.
    unknown = asyncio.run(burst(server, "nobody@acme.test", 120))
    assert collections.Counter(r.status_code for r in unknown) == statuses
    words = lambda responses: {re.sub(r"\d+", "N", r.json()["error"]["message"]) for r in responses
                               if r.status_code == 429}
    assert words(unknown) == words(refused) and len(words(refused)) == 1
    assert server.instance_counts()[("auth.password", "failure")] == checked

    assert server.audit_verify().returncode == 0
    assert server.errors_logged() == []
