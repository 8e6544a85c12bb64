"""Password sign-in throughput over HTTP, and whether the event loop stays free while bcrypt runs.

Usage: signin_bench.py BASE_URL EMAILS_JSON PASSWORD
One correct-password sign-in for each account of EMAILS_JSON (POST /api/v1/auth/login, 8 client threads;
`latchkey bench sign-ins` adds them: one account per sign-in, as a crowd arriving would, so that no account's
throttle meets a burst); every answer must be 200. Three quarters of the accounts time the throughput alone;
the last quarter signs in while one more client asks /healthz back to back: if bcrypt ran on an event loop,
those answers would wait a whole verification (hundreds of milliseconds). The JSON reports their p50 and p99.
"""
import http.client, json, sys, threading, time, urllib.parse


def request(url, method, path, body=None):
    parsed = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    connection.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def sign_in_all(base, emails, password, statuses):
    lock = threading.Lock()
    remaining = iter(emails)

    def sign_in():
        while True:
            with lock:
                email = next(remaining, None)
            if email is None:
                return
            status = request(base, "POST", "/api/v1/auth/login", json.dumps({"email": email, "password": password}))
            with lock:
                statuses.append(status)

    started = time.time()
    threads = [threading.Thread(target=sign_in) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    return time.time() - started


def main():
    base, emails, password = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
    timed, probed = emails[:len(emails) * 3 // 4], emails[len(emails) * 3 // 4:]
    statuses = []
    wall = sign_in_all(base, timed, password, statuses)
    ok = statuses.count(200)
    probes = []
    done = threading.Event()

    def probe():
        while not done.is_set():
            started = time.perf_counter()
            request(base, "GET", "/healthz")
            probes.append((time.perf_counter() - started) * 1000)
            time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    sign_in_all(base, probed, password, statuses)
    done.set()
    prober.join()
    probes.sort()
    print(json.dumps({"signIns": len(timed), "ok": ok, "perSecond": round(ok / wall, 2), "wallSeconds": round(wall, 2),
                      "healthzP50Ms": round(probes[len(probes) // 2], 2),
                      "healthzP99Ms": round(probes[min(len(probes) - 1, int(len(probes) * 0.99))], 2),
                      "healthzProbes": len(probes)}))
    if statuses.count(200) != len(emails):
        sys.exit(f"only {statuses.count(200)} of {len(emails)} sign-ins answered 200: {sorted(set(statuses))}")


main()
