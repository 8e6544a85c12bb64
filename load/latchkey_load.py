"""The load suite's parts: real `latchkey serve` processes on a fresh copy of the seeded demo, on SQLite or on
PostgreSQL; HTTP clients from any loopback address (127.0.0.2 … stand for other places); `oathtool` as every
member's phone; and the server's own CLI (`audit verify`, `audit export`) to check what it recorded."""

import asyncio
import collections
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("LATCHKEY_BIN", ROOT / ".build" / "debug" / "latchkey"))
PASSWORD = "latchkey-demo-pass"
# Every process of a test shares one server key (the one the seeded TOTP secrets are sealed with).
SECRET_KEY = "4c617463686b6579206c6f6164207375697465206b6579202d2d2d2d2d2d2d2d"
TIMEOUT = httpx.Timeout(120.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, env=None, check=True):
    return subprocess.run([str(BINARY), *args], env=dict(os.environ, LATCHKEY_SECRET_KEY=SECRET_KEY,
                                                         LOG_LEVEL="error", **(env or {})),
                          check=check, capture_output=True, text=True)


# MARK: databases


class SQLiteDatabases:
    """A seeded template file; each test serves its own copy."""

    name = "sqlite"

    def __init__(self, directory):
        self.directory = directory
        self.template = directory / "template.sqlite"
        self.accounts = seed(str(self.template), directory)

    def fresh(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "latchkey.sqlite"
        shutil.copy(self.template, path)
        return str(path), SQLiteReader(path)


class PostgresDatabases:
    """A seeded template database on the cluster at LOAD_POSTGRES_URL; each test gets CREATE DATABASE … TEMPLATE."""

    name = "postgres"

    def __init__(self, base_url, directory):
        self.base = base_url.rstrip("/")
        self.template = "load_template_" + uuid.uuid4().hex[:8]
        self.psql("postgres", f"CREATE DATABASE {self.template}")
        self.accounts = seed(self.url(self.template), directory)

    def url(self, database):
        return f"{self.base}/{database}?sslmode=disable"

    def psql(self, database, sql):
        return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", f"{self.base}/{database}",
                               "-c", sql], check=True, capture_output=True, text=True).stdout

    def fresh(self, directory):
        name = "load_" + uuid.uuid4().hex[:12]
        for attempt in range(50):
            try:
                self.psql("postgres", f"CREATE DATABASE {name} TEMPLATE {self.template}")
                break
            except subprocess.CalledProcessError as error:
                # The seeding process's connections may take a moment to close after it exits.
                if "being accessed by other users" not in error.stderr or attempt == 49:
                    raise
                time.sleep(0.2)
        return self.url(name), PostgresReader(self, name)


def seed(database, directory):
    """`latchkey demo --seed-only` once: Acme with a few hundred members in every MFA state, and Globex."""
    credentials = directory / "credentials.json"
    run("demo", "--database", database, "--seed-only", "--credentials-file", str(credentials),
        env={"LATCHKEY_DATA_DIR": str(directory)})
    return {account["email"]: account for account in json.loads(credentials.read_text())}


class SQLiteReader:
    def __init__(self, path):
        self.path = path

    def rows(self, sql, *params):
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return [tuple(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()


class PostgresReader:
    def __init__(self, databases, name):
        self.databases = databases
        self.name = name

    def rows(self, sql, *params):
        # The suite's own queries with literal parameters (emails, keys): quote them as SQL strings.
        for param in params:
            sql = sql.replace("?", "'" + str(param).replace("'", "''") + "'", 1)
        output = self.databases.psql(self.name, sql)
        return [tuple(line.split("|")) for line in output.splitlines() if line]


# MARK: the server


class Server:
    """`latchkey serve` on a fresh copy of the seeded demo, on a free loopback port."""

    def __init__(self, databases, directory, env=None, same_database_as=None):
        """`same_database_as`: another Server whose database this one serves too (a second instance)."""
        directory.mkdir(parents=True, exist_ok=True)
        if same_database_as is None:
            self.database, self.reader = databases.fresh(directory)
        else:
            self.database, self.reader = same_database_as.database, same_database_as.reader
        self.accounts = databases.accounts
        self.engine = databases.name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "server.log"
        self.log = open(self.log_path, "w")
        env = {**os.environ, "LATCHKEY_SECRET_KEY": SECRET_KEY, "LATCHKEY_DATA_DIR": str(directory),
               "LOG_LEVEL": "warning", **(env or {})}
        self.process = subprocess.Popen(
            [str(BINARY), "serve", "--database", self.database, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("latchkey serve did not start:\n" + self.log_path.read_text()[-4000:])
            time.sleep(0.1)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def errors_logged(self):
        return [line for line in self.log_path.read_text().splitlines() if " error " in line or "critical" in line]

    # What the server holds.

    def rows(self, sql, *params):
        return self.reader.rows(sql, *params)

    def throttle_failures(self, kind, email):
        rows = self.rows("SELECT failures FROM sign_in_throttles WHERE kind = ? AND email = ?", kind, email)
        return sum(int(row[0]) for row in rows)

    def audit_verify(self):
        return run("audit", "verify", "--database", self.database, check=False)

    def audit_counts(self, organization="acme"):
        """(action, result) → number of events, from the server's own `audit export`."""
        exported = run("audit", "export", "--format", "jsonl", "--organization", organization,
                       "--database", self.database).stdout
        counts = collections.Counter()
        for line in exported.splitlines():
            event = json.loads(line)
            counts[(event["action"], event["result"])] += 1
        return counts

    def instance_counts(self):
        return collections.Counter(
            (row[0], row[1]) for row in self.rows(
                "SELECT action, result FROM audit_events WHERE chain = 'instance'"))


# MARK: clients


def client(server, address="127.0.0.1"):
    """An HTTP client whose connections leave from `address` (any 127.0.0.0/8 address is this machine)."""
    transport = httpx.AsyncHTTPTransport(local_address=address, retries=0)
    return httpx.AsyncClient(base_url=server.base, transport=transport, timeout=TIMEOUT,
                             limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))


class Phone:
    """Every member's authenticator: oathtool, never offering a time step already used for a secret (the server
    refuses a replayed step, as it must)."""

    def __init__(self):
        self.used = {}

    @staticmethod
    async def code_at(secret, step):
        process = await asyncio.create_subprocess_exec(
            "oathtool", "--totp", "-b", secret, "-N", f"@{step * 30}", stdout=asyncio.subprocess.PIPE)
        output, _ = await process.communicate()
        return output.decode().strip()

    def available(self, secret):
        """A step the server accepts now (this one or the next) that this phone has not used, or None."""
        now = int(time.time()) // 30
        step = max(now, self.used.get(secret, now - 1) + 1)
        return step if step <= now + 1 else None

    async def code(self, secret):
        while (step := self.available(secret)) is None:
            await asyncio.sleep(30 - time.time() % 30 + 0.1)
        self.used[secret] = step
        return await self.code_at(secret, step)

    async def wrong_code(self, secret):
        now = int(time.time()) // 30
        valid = {await self.code_at(secret, step) for step in range(now - 2, now + 3)}
        candidate = int(next(iter(valid)))
        while f"{candidate:06d}" in valid:
            candidate = (candidate + 111_111) % 1_000_000
        return f"{candidate:06d}"


async def sign_in(http, email, secret, phone):
    """Password then code; returns the CSRF token for the session now held in the client's cookies."""
    login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrfToken"]
    mfa = await http.post("/api/v1/auth/mfa", json={"code": await phone.code(secret)}, headers={"X-CSRF-Token": csrf})
    assert mfa.status_code == 200, mfa.text
    return csrf
