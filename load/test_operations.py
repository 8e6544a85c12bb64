"""What an operator's probes and load balancer see from a real `latchkey serve`, on both engines: on SIGTERM the
server drains — `/readyz` answers 503 `draining` for `LATCHKEY_SHUTDOWN_DELAY_SECONDS` while requests are still
served — then stops cleanly."""

import signal
import time

import httpx

from latchkey_load import Server


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
