"""What an operator sees of a real `latchkey serve` stopping, on both engines: on SIGTERM the server drains —
`/readyz` answers 503 `draining` for `LATCHKEY_SHUTDOWN_DELAY_SECONDS` while requests are still served — then
stops cleanly; a background job stops between chunks and gives its lease back, and another instance on the same
database finishes it, every member reset exactly once."""

import asyncio
import collections
import signal
import time

import httpx

from latchkey_load import Phone, Server, client, sign_in


def test_sigterm_drains_then_stops(databases, tmp_path):
    server = Server(databases, tmp_path / "server", env={"LATCHKEY_SHUTDOWN_DELAY_SECONDS": "3"})
    try:
        ready = httpx.get(server.base + "/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        server.process.send_signal(signal.SIGTERM)
        signalled = time.time()
        time.sleep(0.5)
        draining = httpx.get(server.base + "/readyz")
        assert draining.status_code == 503, draining.text
        assert draining.json()["status"] == "draining" and draining.headers["content-type"].startswith("application/json")
        # Still serving while the load balancer takes it out.
        assert httpx.get(server.base + "/login").status_code == 200
        assert httpx.get(server.base + "/healthz").status_code == 200
        code = server.process.wait(timeout=30)
        stopped = time.time() - signalled
        print(f"[{server.engine}] drained for {stopped:.1f} s, exit status {code}")
        assert code == 0 and 3 <= stopped < 30
        assert not server.errors_logged(), server.errors_logged()[:3]
    finally:
        server.stop()


def test_sigterm_pauses_a_job_between_chunks_and_another_instance_finishes_it(databases, tmp_path):
    slow = {"LATCHKEY_JOB_CHUNK_SIZE": "20", "LATCHKEY_JOB_CHUNK_PAUSE_MS": "300"}
    first = Server(databases, tmp_path / "a", env=slow)
    second = None
    try:
        owner = first.accounts["owner@acme.test"]

        async def start_job():
            async with client(first) as http:
                csrf = await sign_in(http, "owner@acme.test", owner["totpSecret"], Phone())
                return await http.post("/api/v1/members/mfa/reset", headers={"X-CSRF-Token": csrf},
                                       json={"filter": {}, "reason": "drain"})

        started = asyncio.run(start_job())
        assert started.status_code == 202, started.text[:300]
        job = started.json()["jobId"]
        total = started.json()["total"]
        assert total > 60
        time.sleep(1.2)  # a few chunks in
        first.process.send_signal(signal.SIGTERM)
        signalled = time.time()
        assert first.process.wait(timeout=20) == 0
        stopped = time.time() - signalled
        status, lease = first.rows("SELECT status, lease_until FROM reset_batches WHERE lower(CAST(id AS TEXT)) = lower(?)", job)[0]
        done = int(first.rows("SELECT COUNT(*) FROM reset_results WHERE lower(CAST(batch_id AS TEXT)) = lower(?) AND status <> 'pending'",
                              job)[0][0])
        print(f"[{first.engine}] stopped {stopped:.1f} s after SIGTERM with {done} of {total} done")
        assert status == "running" and 0 < done < total
        assert str(lease) < "2000"  # given back, not held until it runs out

        second = Server(databases, tmp_path / "b", env=slow, same_database_as=first)
        deadline = time.time() + 120
        while time.time() < deadline:
            if first.rows("SELECT status FROM reset_batches WHERE lower(CAST(id AS TEXT)) = lower(?)", job)[0][0] == "completed":
                break
            time.sleep(0.3)
        assert first.rows("SELECT status FROM reset_batches WHERE lower(CAST(id AS TEXT)) = lower(?)", job)[0][0] == "completed"
        results = collections.Counter(row[0] for row in first.rows(
            "SELECT status FROM reset_results WHERE lower(CAST(batch_id AS TEXT)) = lower(?)", job))
        assert sum(results.values()) == total and results["pending"] == 0, results
        # Every member reset exactly once across the two instances: one event per result.
        events = int(first.rows("SELECT COUNT(*) FROM audit_events WHERE lower(CAST(batch_id AS TEXT)) = lower(?) AND action = 'mfa.reset'",
                                job)[0][0])
        assert events == total
        assert not first.errors_logged() and not second.errors_logged()
        assert first.audit_verify().returncode == 0
    finally:
        first.stop()
        if second is not None:
            second.stop()
