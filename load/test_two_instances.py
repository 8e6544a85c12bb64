"""Two real `latchkey serve` processes on one database, on both engines — PostgreSQL as operators scale it, and
SQLite, whose file two processes may share too: a reset through A ends the member's session on B at its next
request; an API token's rate limit holds across both; mail queued through either is handed to a real SMTP server
(aiosmtpd) exactly once though both deliver; and a background job whose instance is killed (SIGKILL, no chance to
give its lease back) is finished by the other once the lease runs out, every member reset exactly once."""

import asyncio
import collections
import re
import signal
import threading
import time

from aiosmtpd.controller import Controller

from latchkey_load import PASSWORD, Phone, Server, client, free_port, run, sign_in

OWNER = "owner@acme.test"


class Sink:
    """aiosmtpd on loopback: every message received, by its Message-ID."""

    def __init__(self):
        self.lock = threading.Lock()
        self.message_ids = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                text = envelope.content.decode("utf-8", "replace")
                match = re.search(r"^Message-ID: (.+?)\r?$", text, re.MULTILINE | re.IGNORECASE)
                with sink.lock:
                    sink.message_ids.append(match.group(1) if match else None)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def received(self):
        with self.lock:
            return list(self.message_ids)

    def stop(self):
        self.controller.stop()


def wait_for(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {seconds} s: {what}")


def batch(server, job, column="status"):
    return server.rows(f"SELECT {column} FROM reset_batches WHERE lower(CAST(id AS TEXT)) = lower(?)", job)[0][0]


def test_two_instances_share_sessions_limits_mail_and_jobs(databases, tmp_path):
    sink = Sink()
    env = {
        "LATCHKEY_SMTP_URL": f"smtp://127.0.0.1:{sink.port}?starttls=off",
        "LATCHKEY_TOKEN_REQUESTS_PER_MINUTE": "20",
        "LATCHKEY_JOB_CHUNK_SIZE": "20",
        "LATCHKEY_JOB_CHUNK_PAUSE_MS": "300",
        # A job left by a killed instance is taken up when its claim runs out: the shortest claim allowed, not a minute.
        "LATCHKEY_JOB_LEASE_SECONDS": "10",
        # The job runner says which instance claimed a job at info.
        "LOG_LEVEL": "info",
    }
    a = Server(databases, tmp_path / "a", env=env)
    b = Server(databases, tmp_path / "b", env=env, same_database_as=a)
    try:
        owner = a.accounts[OWNER]
        members = [m for m in a.accounts.values()
                   if m["organization"] == "Acme" and m["role"] == "Member" and m["mfaStatus"] == "enabled"
                   and m["status"] == "active" and not m["locked"]]
        jane = members[0]
        jane_id = a.rows("SELECT lower(CAST(id AS TEXT)) FROM members WHERE email = ?", jane["email"])[0][0]
        token = re.search(r"lk_[A-Za-z0-9_\-]+", run(
            "token", "create", "--email", OWNER, "--name", "two instances", "--permissions", "members.view,members.manage", "--days", "1",
            "--database", a.database).stdout).group(0)

        phone = Phone()

        async def scenario():
            async with client(a) as on_a, client(b) as on_b:
                # A member signed in on B; their MFA reset through A: B ends the session at the next request.
                await sign_in(on_b, jane["email"], jane["totpSecret"], phone)
                before = await on_b.get("/api/v1/auth/session")
                csrf = await sign_in(on_a, OWNER, owner["totpSecret"], phone)
                reset = await on_a.post(f"/api/v1/members/{jane_id}/mfa/reset", headers={"X-CSRF-Token": csrf},
                                        json={"reason": "lost phone"})
                after = await on_b.get("/api/v1/auth/session")
                # One token, 30 requests at once, spread over both instances: the limit of 20 a minute holds.
                bearer = {"Authorization": f"Bearer {token}"}
                limited = await asyncio.gather(*[(on_a if i % 2 else on_b).get("/api/v1/members", headers=bearer)
                                                 for i in range(30)])
                # 20 members reset at once, ten requests through each instance: their notices are mail.
                ids = [r[0] for r in a.rows(
                    "SELECT lower(CAST(id AS TEXT)) FROM members WHERE email IN (" + ", ".join("?" * 20) + ")",
                    *[m["email"] for m in members[1:21]])]
                # The owner's session, signed in on A, serves on B as well: sessions live in the database.
                owner_b = client(b)
                owner_b.cookies = on_a.cookies
                resets = await asyncio.gather(*[(on_a if i % 2 else owner_b).post(
                    "/api/v1/members/mfa/reset", headers={"X-CSRF-Token": csrf},
                    json={"memberIds": ids[2 * (i // 2):2 * (i // 2) + 2], "reason": "batch"}) for i in range(20)])
                await owner_b.aclose()
                return before, reset, after, limited, resets, csrf

        before, reset, after, limited, resets, csrf = asyncio.run(scenario())
        assert before.status_code == 200 and before.json()["status"] == "signed_in"
        assert reset.status_code == 200, reset.text[:300]
        assert after.status_code == 401, after.text[:300]
        assert a.rows("SELECT COUNT(*) FROM sessions WHERE lower(CAST(member_id AS TEXT)) = ?", jane_id)[0][0] in (0, "0")
        statuses = collections.Counter(r.status_code for r in limited)
        print(f"[{a.engine}] one token over two instances, limit 20/min: {dict(statuses)}")
        assert statuses == collections.Counter({200: 20, 429: 10})
        assert all(r.status_code == 200 for r in resets), [r.text[:200] for r in resets if r.status_code != 200]

        # Every message queued so far is handed over exactly once, whichever instance took it.
        queued = lambda: int(a.rows("SELECT COUNT(*) FROM mail_outbox")[0][0])
        sent = lambda: int(a.rows("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NOT NULL")[0][0])
        wait_for(lambda: sent() == queued(), 60, "all mail handed over")
        received = sink.received()
        duplicates = [m for m, n in collections.Counter(received).items() if n > 1]
        print(f"[{a.engine}] mail: {queued()} queued, {sent()} sent, {len(received)} received, "
              f"{len(duplicates)} twice")
        assert queued() >= 21 and len(received) == sent() == queued() and not duplicates and None not in received

        # A background job; its instance killed mid-way, without a chance to give its lease back.
        async def start_job():
            async with client(a) as on_a:
                csrf = await sign_in(on_a, OWNER, owner["totpSecret"], phone)
                return await on_a.post("/api/v1/members/mfa/reset", headers={"X-CSRF-Token": csrf},
                                       json={"filter": {}, "reason": "fleet reset"})

        started = asyncio.run(start_job())
        assert started.status_code == 202, started.text[:300]
        job, total = started.json()["jobId"], started.json()["total"]
        done = lambda: int(a.rows("SELECT COUNT(*) FROM reset_results WHERE lower(CAST(batch_id AS TEXT)) = "
                                  "lower(?) AND status <> 'pending'", job)[0][0])
        claimed = lambda server: any("reset job claimed" in line and job.lower() in line.lower()
                                     for line in server.log_path.read_text().splitlines())
        wait_for(lambda: claimed(a) or claimed(b), 30, "an instance claims the job")
        holder, other = (a, b) if claimed(a) else (b, a)
        wait_for(lambda: done() >= 40, 30, "a few chunks done")
        holder.process.send_signal(signal.SIGKILL)
        holder.process.wait(timeout=10)
        killed_at, done_then = time.time(), done()
        print(f"[{a.engine}] SIGKILL of the job's instance with {done_then} of {total} done")
        assert done_then < total
        wait_for(lambda: batch(other, job) == "completed", 180, "the other instance finishes the job")
        assert claimed(other)
        results = collections.Counter(row[0] for row in other.rows(
            "SELECT status FROM reset_results WHERE lower(CAST(batch_id AS TEXT)) = lower(?)", job))
        events = int(other.rows("SELECT COUNT(*) FROM audit_events WHERE lower(CAST(batch_id AS TEXT)) = lower(?) "
                            "AND action = 'mfa.reset'", job)[0][0])
        print(f"[{a.engine}] finished by the other {time.time() - killed_at:.0f} s after the kill: {dict(results)}; "
              f"{events} audit events")
        assert sum(results.values()) == total and results["pending"] == 0
        assert events == total
        assert not other.errors_logged(), other.errors_logged()[:3]
        assert other.audit_verify().returncode == 0
    finally:
        a.stop()
        b.stop()
        sink.stop()
