"""Times the TOTP second factor over HTTP: POST /api/v1/auth/mfa for sessions already past the password step.

Usage: mfa_bench.py BASE_URL PID PENDING_JSON
Sends each session's current code once (4 client threads), checks every answer is 200, and reports the server
process's CPU time (user + system, from /proc) per verification. (Replay protection — a code accepted once is
refused again — is held by the test suite; each session here belongs to its own member.)
"""
import base64, hashlib, hmac, http.client, json, os, struct, sys, threading, time, urllib.parse


def totp(secret_b32, at):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(url, session):
    parsed = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    # The code of the moment it is sent (the server accepts the step before too, so a step's end mid-run is fine).
    body = json.dumps({"code": totp(session["totpSecret"], time.time())})
    connection.request("POST", "/api/v1/auth/mfa", body, {
        "Content-Type": "application/json", "Cookie": f"lk_session={session['token']}",
        "X-CSRF-Token": session["csrfToken"]})
    status = connection.getresponse().status
    connection.close()
    return status


def main():
    base, pid, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sessions = json.load(open(path))
    statuses = []
    lock = threading.Lock()
    chunks = [sessions[i::4] for i in range(4)]
    def run(chunk):
        for s in chunk:
            status = post(base, s)
            with lock:
                statuses.append(status)
    before = cpu_seconds(pid)
    started = time.time()
    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.time() - started
    cpu = cpu_seconds(pid) - before
    ok = statuses.count(200)
    print(json.dumps({"verifications": len(sessions), "ok": ok, "cpuMsPerVerification": round(cpu * 1000 / max(ok, 1), 3),
                      "wallSeconds": round(wall, 2)}))
    if ok != len(sessions):
        sys.exit(f"only {ok} of {len(sessions)} verifications answered 200: {sorted(set(statuses))}")


if __name__ == "__main__":
    main()
