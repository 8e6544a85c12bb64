"""The Manage Members page while a background bulk reset of 10,000 members runs.

Usage: job_bench.py BASE_URL OWNER_EMAIL PASSWORD TOTP_SECRET COUNT PAGE_PATH
Signs the owner in (password, then TOTP: a fresh second factor for the step-up), collects COUNT ids of the seeded
members with MFA enabled (m<N>@…), starts one bulk reset of them (202: a background job), runs wrk on PAGE_PATH
(16 clients) while the job runs, stops wrk when the job is done and prints wrk's figures with the job's time.
"""
import http.client, json, os, re, signal, subprocess, sys, time, urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from mfa_bench import totp  # noqa: E402


def call(base, method, path, body=None, headers=None):
    parsed = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    connection.request(method, path, json.dumps(body) if body is not None else None,
                       {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    cookie = response.getheader("Set-Cookie")
    connection.close()
    return response.status, (json.loads(data) if data else None), cookie


def main():
    base, email, password, secret, count, page_path = sys.argv[1:7]
    count = int(count)
    status, body, cookie = call(base, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert status == 200, (status, body)
    session = re.search(r"lk_session=([^;]+)", cookie).group(1)
    headers = {"Cookie": f"lk_session={session}", "X-CSRF-Token": body["csrfToken"]}
    for _ in range(3):
        while 30 - time.time() % 30 < 3:
            time.sleep(0.5)
        status, body, cookie = call(base, "POST", "/api/v1/auth/mfa", {"code": totp(secret, time.time())}, headers)
        if status != 401 or body["error"]["code"] != "code_reused":
            break
        time.sleep(30 - time.time() % 30 + 0.5)  # the code of this step was used a moment ago: take the next
    assert status == 200, (status, body)
    # Signing in turns the session over: a new token (and CSRF token) for the signed-in session.
    headers = {"Cookie": "lk_session=" + re.search(r"lk_session=([^;]+)", cookie).group(1),
               "X-CSRF-Token": body.get("csrfToken", headers["X-CSRF-Token"])}
    ids, after = [], None
    while len(ids) < count:
        path = "/api/v1/members?limit=100&mfa=enabled" + (f"&cursor={urllib.parse.quote(after)}" if after else "")
        status, page, _ = call(base, "GET", path, headers=headers)
        assert status == 200, (status, page)
        ids += [m["id"] for m in page["members"] if re.match(r"m\d+@", m["email"])]
        after = page.get("nextCursor")
        if not after:
            break
    ids = ids[:count]
    status, job, _ = call(base, "POST", "/api/v1/members/mfa/reset",
                          {"memberIds": ids, "reason": "bench: page during a background job"},
                          {**headers, "Idempotency-Key": f"bench-{time.time()}"})
    assert status == 202, (status, job)
    started = time.time()
    wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d120s", "--latency", "-H", "Cookie: " + headers["Cookie"],
                            base + page_path], stdout=subprocess.PIPE, text=True)
    while True:
        time.sleep(0.2)
        status, state, _ = call(base, "GET", f"/api/v1/mfa-reset-jobs/{job['jobId']}", headers=headers)
        if state["status"] not in ("queued", "running"):
            break
    job_seconds = time.time() - started
    wrk.send_signal(signal.SIGINT)
    output = wrk.communicate()[0]

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", output, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = "Non-2xx" in output or "Socket errors" in output
    print(json.dumps({"members": len(ids), "jobStatus": state["status"], "processed": state["processed"],
                      "jobSeconds": round(job_seconds, 2), "p50": pct(50), "p90": pct(90), "p99": pct(99),
                      "rps": rps, "errors": errors}))
    if state["status"] != "completed" or state["processed"] != len(ids) or errors:
        sys.exit(f"job {state['status']} processed {state['processed']} of {len(ids)}; wrk errors: {errors}\n{output}")


main()
