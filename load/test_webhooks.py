"""Webhooks against a real receiver, on both engines: a small Python HTTP server on loopback that checks every
signature (HMAC-SHA256 over "t.body" with the endpoint's secret) and answers each event's first delivery 500, then
200. 40 members suspended and reactivated by concurrent requests: every event arrives exactly once with a 200,
after exactly one 500, every signature valid, the delivery log saying so. On PostgreSQL a second `latchkey serve` on
the same database delivers too: still exactly once. And a server that does not allow private targets refuses
them, named or literal."""

import collections
import concurrent.futures
import hashlib
import hmac
import http.server
import json
import threading
import time

import httpx

from latchkey_load import Server, run

OWNER = "owner@acme.test"
TYPES = ["member.suspended", "member.reactivated"]


class Receiver:
    """ThreadingHTTPServer on 127.0.0.1: records each request and whether its signature verified."""

    def __init__(self):
        self.secret = None
        self.lock = threading.Lock()
        self.requests = []  # (event id, delivery id, status answered, signature ok)
        self.answered = collections.Counter()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signature = dict(part.split("=", 1) for part in self.headers["Latchkey-Signature"].split(","))
                expected = hmac.new(receiver.secret.encode(), signature["t"].encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, signature["v1"]) and abs(time.time() - int(signature["t"])) < 300
                event = json.loads(body)["data"]["id"].lower()
                with receiver.lock:
                    status = 200 if receiver.answered[event] else 500
                    receiver.answered[event] += 1
                    receiver.requests.append((event, self.headers["Latchkey-Delivery"], status, valid))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/latchkey"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def token(server, permissions):
    output = run("token", "create", "--database", server.database, "--email", OWNER, "--name", "webhooks",
                 "--permissions", permissions, "--days", "7").stdout
    return next(line for line in output.splitlines() if line.startswith("lk_"))


def test_webhooks_signed_retried_once_each_and_ssrf_refused(databases, tmp_path):
    fast = {"LATCHKEY_WEBHOOK_ALLOW_PRIVATE": "1", "LATCHKEY_WEBHOOK_RETRY_SECONDS": "0.3"}
    primary = Server(databases, tmp_path / "a", env=fast)
    servers = [primary]
    receiver = Receiver()
    try:
        bearer = {"Authorization": "Bearer " + token(primary, "members.view,members.manage,org.settings,audit.view")}
        created = httpx.post(primary.base + "/api/v1/webhooks", headers=bearer,
                             json={"url": receiver.url, "description": "load", "eventTypes": TYPES})
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]
        hook = created.json()["id"]
        if primary.engine == "postgres":
            # A second instance on the same database: both dispatch; leases keep each delivery to one of them.
            servers.append(Server(databases, tmp_path / "b", env=fast, same_database_as=primary))
        members = [row[0] for row in primary.rows(
            "SELECT m.id FROM members m JOIN organizations o ON o.id = m.organization_id JOIN roles r ON r.id = m.role_id "
            "WHERE o.slug = 'acme' AND r.name = 'Member' AND m.status = 'active' ORDER BY m.email LIMIT 40")]
        assert len(members) == 40

        def act(args):
            index, action = args
            base = servers[index % len(servers)].base
            return httpx.post(f"{base}/api/v1/members/{members[index]}/{action}", headers=bearer, json={},
                              timeout=60).status_code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            suspended = list(pool.map(act, [(i, "suspend") for i in range(40)]))
            reactivated = list(pool.map(act, [(i, "reactivate") for i in range(40)]))
        assert suspended == [200] * 40 and reactivated == [200] * 40

        deadline = time.time() + 60
        while time.time() < deadline:
            with receiver.lock:
                acknowledged = sum(1 for _, _, status, _ in receiver.requests if status == 200)
            if acknowledged >= 80:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # anything sent twice would arrive by now
        with receiver.lock:
            requests = list(receiver.requests)
        print(f"[{primary.engine}] {len(servers)} instance(s): {len(requests)} requests for "
              f"{len({r[0] for r in requests})} events")
        assert all(valid for _, _, _, valid in requests), "a signature did not verify"
        per_event = collections.Counter(event for event, _, _, _ in requests)
        acks = collections.Counter(event for event, _, status, _ in requests if status == 200)
        assert len(per_event) == 80  # 40 suspensions and 40 reactivations, nothing else
        twice = {event for event, n in acks.items() if n > 1}
        # Each event acknowledged once: an answer is never lost (a receiver that answers and closes as soon as it
        # has read the body, as this one does, once made the last part of a request fail and its 200 be retried).
        assert not twice and len(acks) == 80, [r for r in primary.rows(
            "SELECT id, event_id, status, attempts, last_error FROM webhook_deliveries") if str(r[1]).lower() in twice]
        assert set(per_event.values()) == {2}  # each after exactly one 500
        events = primary.rows(
            "SELECT id FROM audit_events WHERE action IN ('member.suspended', 'member.reactivated') "
            "AND seq > (SELECT seq FROM audit_events WHERE action = 'webhook.created')")
        assert {str(row[0]).lower() for row in events} == set(per_event)
        log = []
        cursor = None
        while True:
            page = httpx.get(primary.base + f"/api/v1/webhooks/{hook}/deliveries", headers=bearer,
                             params={"limit": 50, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            page = page.json()
            log += page["deliveries"]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        assert len(log) == 80 and len({d["id"] for d in log}) == 80
        assert all(d["status"] == "delivered" and d["attempts"] == 2 and d["lastStatusCode"] == 200 for d in log)
        for server in servers:
            server.stop()
            assert server.errors_logged() == []
    finally:
        receiver.stop()
        for server in servers:
            server.stop()

    # Without LATCHKEY_WEBHOOK_ALLOW_PRIVATE: loopback, private and link-local targets are refused, named or not.
    strict = Server(databases, tmp_path / "strict")
    try:
        bearer = {"Authorization": "Bearer " + token(strict, "org.settings,audit.view")}
        for url in [receiver.url, "https://127.0.0.1:8443/x", "https://localhost/x", "https://10.0.0.7/x",
                    "https://169.254.169.254/latest/meta-data", "https://[::1]/x", "https://0.0.0.0/x"]:
            refused = httpx.post(strict.base + "/api/v1/webhooks", headers=bearer, json={"url": url, "eventTypes": ["*"]})
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_webhook_url", url
        assert httpx.get(strict.base + "/api/v1/webhooks", headers=bearer).json()["webhooks"] == []
    finally:
        strict.stop()
