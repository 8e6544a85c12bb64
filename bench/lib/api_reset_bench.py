"""A bulk MFA reset of every seeded member (but the owner) driven through the JSON API with an API token, as a
help-desk script would: page through /api/v1/members for their ids, POST /api/v1/members/mfa/reset with an
Idempotency-Key (a background job above 200 members), poll the job until it completes.

Usage: api_reset_bench.py BASE_URL TOKEN
Prints {"members", "collectSeconds", "jobSeconds", "summary"}: the job's time runs from the POST to the poll that
sees it completed (polled every 0.1 s).
"""
import http.client, json, sys, time, urllib.parse


def main():
    base, token = sys.argv[1:3]
    parsed = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(method, path, body=None, extra=None):
        connection.request(method, path, json.dumps(body) if body is not None else None, {**headers, **(extra or {})})
        response = connection.getresponse()
        data = response.read()
        assert response.status in (200, 202), (method, path, response.status, data[:300])
        return response.status, json.loads(data)

    started = time.time()
    ids, cursor = [], None
    while True:
        path = "/api/v1/members?limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        _, page = call("GET", path)
        ids += [m["id"] for m in page["members"] if not m["email"].startswith("owner@")]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    collected = time.time()
    status, job = call("POST", "/api/v1/members/mfa/reset", {"memberIds": ids, "reason": "bench: through the API"},
                       {"Idempotency-Key": f"bench-api-{time.time()}"})
    assert status == 202, job
    while job["status"] != "completed":
        time.sleep(0.1)
        _, job = call("GET", f"/api/v1/mfa-reset-jobs/{job['jobId']}")
    finished = time.time()
    print(json.dumps({"members": len(ids), "collectSeconds": round(collected - started, 2),
                      "jobSeconds": round(finished - collected, 2), "summary": job["summary"]}))


if __name__ == "__main__":
    main()
