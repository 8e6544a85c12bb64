"""Times the TOTP second factor over HTTP: POST /api/v1/auth/mfa for sessions already past the password step.

Usage: mfa_bench.py BASE_URL PID PENDING_JSON
Sends each session's current code once (4 client threads), checks every answer is 200, and reports the server
process's CPU time (user + system, from /proc) per verification: for the first half of the sessions each client
keeps one connection, as the browser or script that signed in does (the target's figure); for the second half it
opens a new connection for every verification, whose setup and teardown the server pays too. (Replay protection —
a code accepted once is refused again — is held by the test suite; each session here belongs to its own member.)
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


def send(connection, session):
    # The code of the moment it is sent (the server accepts the step before too, so a step's end mid-run is fine).
    body = json.dumps({"code": totp(session["totpSecret"], time.time())})
    connection.request("POST", "/api/v1/auth/mfa", body, {
        "Content-Type": "application/json", "Cookie": f"lk_session={session['token']}",
        "X-CSRF-Token": session["csrfToken"]})
    response = connection.getresponse()
    response.read()
    return response.status


def run(base, pid, sessions, keep_alive):
    """Sends each session's code once from 4 client threads; returns the statuses and the server's CPU and wall
    time. keep_alive: each client keeps one connection (as the browser or script that signed in does); else a new
    connection per verification, its setup and teardown counted too."""
    parsed = urllib.parse.urlparse(base)
    connect = lambda: http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    statuses = []
    lock = threading.Lock()
    def client(chunk):
        kept = connect() if keep_alive else None
        for s in chunk:
            connection = kept or connect()
            status = send(connection, s)
            if not kept:
                connection.close()
            with lock:
                statuses.append(status)
        if kept:
            kept.close()
    before = cpu_seconds(pid)
    started = time.time()
    threads = [threading.Thread(target=client, args=(sessions[i::4],)) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    return statuses, cpu_seconds(pid) - before, time.time() - started


def main():
    base, pid, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sessions = json.load(open(path))
    half = len(sessions) // 2
    result = {}
    for name, chunk, keep_alive in [("", sessions[:half], True), ("NewConnection", sessions[half:], False)]:
        statuses, cpu, wall = run(base, pid, chunk, keep_alive)
        ok = statuses.count(200)
        if ok != len(chunk):
            sys.exit(f"only {ok} of {len(chunk)} verifications answered 200: {sorted(set(statuses))}")
        result["verifications" + name] = ok
        result["cpuMsPerVerification" + name] = round(cpu * 1000 / ok, 3)
        result["wallSeconds" + name] = round(wall, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
