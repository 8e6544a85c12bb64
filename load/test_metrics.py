"""`/metrics` of a real `latchkey serve`, on both engines, while 100 requests arrive at once: the counters move by
exactly what happened — every audited action as many times as the audit log holds it (nothing counted twice, none
lost, none rolled back), requests by route pattern with their latency histogram, sign-ins by step and result, MFA
resets by outcome — and the gauges show a running job, its members left, and the database connections. The
endpoint answers only the bearer of `LATCHKEY_METRICS_TOKEN` when one is set."""

import asyncio
import collections
import re
import time

import httpx

from latchkey_load import PASSWORD, Phone, Server, client, sign_in

TOKEN = "metrics-7Hq2kP9wZr4vXy8u"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(server):
    answer = httpx.get(server.base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in answer.text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def family(samples, name):
    return {labels: number for (metric, labels), number in samples.items() if metric == name}


def audit_totals(server):
    return collections.Counter({(row[0], row[1]): int(row[2]) for row in server.rows(
        "SELECT action, result, COUNT(*) FROM audit_events GROUP BY action, result")})


def test_metrics_count_exactly_what_happened_under_100_requests_at_once(databases, tmp_path):
    server = Server(databases, tmp_path / "server", env={
        "LATCHKEY_METRICS_TOKEN": TOKEN, "LATCHKEY_JOB_CHUNK_SIZE": "20", "LATCHKEY_JOB_CHUNK_PAUSE_MS": "400"})
    try:
        # Only the token's bearer.
        assert httpx.get(server.base + "/metrics").status_code == 401
        wrong = httpx.get(server.base + "/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "metrics_token_required"

        owner = server.accounts["owner@acme.test"]
        members = [a for a in server.accounts.values()
                   if a["organization"] == "Acme" and a["role"] == "Member" and a["status"] == "active"
                   and not a["locked"]]
        enrolled = [a for a in members if a["mfaStatus"] == "enabled"]
        before, audit_before = scrape(server), audit_totals(server)

        async def burst():
            phone = Phone()
            async with client(server) as http:
                csrf = await sign_in(http, owner["email"], owner["totpSecret"], phone)
                ids = [row[0] for row in server.rows(
                    "SELECT lower(CAST(id AS TEXT)) FROM members WHERE email IN (" + ", ".join("?" * 5) + ")",
                    *[a["email"] for a in enrolled[:5]])]
                assert len(ids) == 5
                # 100 at once: 50 wrong passwords (each its own member, so no throttle interferes), 45 page loads,
                # 5 resets of the same five members (one resets them, the others find nothing to reset).
                wrong_logins = [client(server) for _ in range(50)]
                try:
                    answers = await asyncio.gather(
                        *[c.post("/api/v1/auth/login", json={"email": m["email"], "password": PASSWORD + "x"})
                          for c, m in zip(wrong_logins, members[:50])],
                        *[http.get("/members") for _ in range(45)],
                        *[http.post("/api/v1/members/mfa/reset", headers={"X-CSRF-Token": csrf},
                                    json={"memberIds": ids, "reason": "metrics"}) for _ in range(5)])
                finally:
                    await asyncio.gather(*[c.aclose() for c in wrong_logins])
                # A background job, slowed, to be seen running.
                job = await http.post("/api/v1/members/mfa/reset", headers={"X-CSRF-Token": csrf},
                                      json={"filter": {}, "reason": "metrics job"})
                return answers, job

        answers, job = asyncio.run(burst())
        statuses = collections.Counter(a.status_code for a in answers)
        print(f"[{server.engine}] 100 at once: {dict(statuses)}")
        assert all(a.status_code < 500 for a in answers)
        assert [a.status_code for a in answers[:50]] == [401] * 50
        assert [a.status_code for a in answers[50:95]] == [200] * 45
        resets = answers[95:]
        assert all(r.status_code == 200 for r in resets), [r.text[:200] for r in resets]
        reset = sum(r.json()["summary"]["reset"] for r in resets)
        skipped = sum(r.json()["summary"]["skipped"] for r in resets)
        assert (reset, skipped) == (5, 20)
        assert job.status_code == 202, job.text[:300]

        # The job runs: its gauges show it, with members left.
        running = scrape(server)
        deadline = time.time() + 10
        while value(running, "latchkey_jobs_running") < 1 and time.time() < deadline:
            time.sleep(0.2)
            running = scrape(server)
        assert value(running, "latchkey_jobs_running") == 1
        assert 0 < value(running, "latchkey_job_members_remaining") <= job.json()["total"]

        # Once it is done: every counter moved by what the audit log holds, no more and no less.
        deadline = time.time() + 120
        while time.time() < deadline and server.rows(
                "SELECT status FROM reset_batches WHERE lower(CAST(id AS TEXT)) = lower(?)",
                job.json()["jobId"])[0][0] != "completed":
            time.sleep(0.3)
        time.sleep(0.3)
        after, audit_after = scrape(server), audit_totals(server)
        assert value(after, "latchkey_jobs_running") == 0 and value(after, "latchkey_job_members_remaining") == 0
        audited = audit_after - audit_before
        counted = collections.Counter()
        for labels, number in family(after, "latchkey_audit_events_total").items():
            moved = number - family(before, "latchkey_audit_events_total").get(labels, 0)
            if moved:
                counted[(dict(labels)["action"], dict(labels)["result"])] = int(moved)
        print(f"[{server.engine}] audited {dict(audited)}")
        assert counted == audited
        assert audited[("auth.password", "failure")] == 50
        moved = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
        assert moved("latchkey_sign_in_attempts_total", step="password", result="failure") == 50
        assert moved("latchkey_sign_in_attempts_total", step="password", result="success") == 1
        assert moved("latchkey_sign_in_attempts_total", step="totp", result="success") == 1
        assert moved("latchkey_mfa_resets_total", outcome="reset") == audited[("mfa.reset", "success")]
        assert moved("latchkey_mfa_resets_total", outcome="skipped") == audited[("mfa.reset", "skipped")]
        assert audited[("mfa.reset", "success")] >= 5

        # Requests by route pattern, method and status, each with its latency histogram.
        page = dict(route="/members", method="GET", status="200")
        assert moved("latchkey_http_requests_total", **page) == 45
        assert moved("latchkey_http_request_duration_seconds_count", **page) == 45
        assert moved("latchkey_http_request_duration_seconds_bucket", le="+Inf", **page) == 45
        assert moved("latchkey_http_requests_total", route="/api/v1/auth/login", method="POST", status="401") == 50
        assert moved("latchkey_http_request_duration_seconds_sum", **page) > 0

        # The database connections and the process.
        connections = family(after, "latchkey_db_connections")
        assert {dict(labels)["pool"] for labels in connections} == {"writes", "reads"}
        assert value(after, "latchkey_db_connections_max", pool="writes") >= 1
        assert value(after, "latchkey_build_info", version=next(
            dict(l)["version"] for l in family(after, "latchkey_build_info"))) == 1
        assert value(after, "process_resident_memory_bytes") > 10_000_000
        for name in ["latchkey_mail_queued", "latchkey_webhook_deliveries_pending"]:
            assert (name, ()) in after
        assert not server.errors_logged(), server.errors_logged()[:3]
        assert "metrics:" not in server.log_path.read_text()
    finally:
        server.stop()
