"""A real SMTP server for the tests (aiosmtpd): STARTTLS or implicit TLS on a throwaway certificate, AUTH, and
recipients that misbehave on purpose. Started by scripts/smtp-sink; prints one line when it listens:

    READY port=2525 ca=/tmp/x/ca.pem dir=/tmp/x/mail

Every accepted message is written to dir as NNNN.eml (the raw data) with NNNN.json beside it (envelope).
Recipients whose local part starts with
    tempfail  are refused with 451 the first time, accepted after;
    reject    are refused with 550;
    slow      make the server wait --slow seconds before answering DATA.
"""

import argparse
import asyncio
import fcntl
import json
import os
import socket
import ssl
import subprocess
import sys
import shutil
import tempfile
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword, SMTP


def certificates(directory):
    """The throwaway CA and server certificate in `directory`, made once (under a lock: tests start servers in
    parallel) and reused, since making RSA keys costs more than the rest of a test."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        paths = [os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")]
        fresh = all(os.path.exists(p) and time.time() - os.path.getmtime(p) < 86400 for p in paths)
        if not fresh:  # the certificates live two days; a day-old set is made again
            make_certificates(directory)
        return paths


def make_certificates(directory):
    """A CA and a certificate for localhost / 127.0.0.1 signed by it (openssl, installed by scripts/bootstrap)."""
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, name) for name in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
                    "-days", "2", "-subj", "/CN=Latchkey test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=localhost"], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", cert, "-days", "2", "-extfile", ext], **quiet)
    return ca, cert, key


class Handler:
    def __init__(self, directory, slow, implicit_tls):
        self.directory = directory
        self.implicit_tls = implicit_tls
        self.slow = slow
        self.seen_tempfail = set()
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        if local.startswith("tempfail") and address not in self.seen_tempfail:
            self.seen_tempfail.add(address)
            return "451 4.3.0 <%s>: Temporary local problem, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.split("@")[0].lower().startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(self.slow)
        with self.lock:
            self.count += 1
            name = os.path.join(self.directory, "%04d" % self.count)
        with open(name + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "tls": self.implicit_tls or session.ssl is not None, "auth": session.authenticated}
        with open(name + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(name + ".eml.tmp", name + ".eml")
        os.rename(name + ".json.tmp", name + ".json")
        return "250 2.0.0 Ok: queued as %04d" % self.count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", choices=["starttls", "implicit", "none"], default="starttls")
    parser.add_argument("--auth", default="", help="user:password to require (over TLS)")
    parser.add_argument("--dir", default="")
    parser.add_argument("--slow", type=float, default=5.0)
    parser.add_argument("--certs", default="", help="a directory to keep the throwaway certificates in")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="latchkey-smtp-")
    directory = args.dir or os.path.join(work, "mail")
    os.makedirs(directory, exist_ok=True)
    ca, cert, key = certificates(args.certs) if args.certs else make_certificates(work)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    port = args.port
    if port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]

    user, _, password = args.auth.partition(":")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
            and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    options = dict(hostname="127.0.0.1", port=port, server_hostname="localhost", ready_timeout=10)
    smtp_options = dict(authenticator=authenticator if args.auth else None, auth_required=bool(args.auth),
                        auth_require_tls=True)
    if args.tls == "implicit":
        options["ssl_context"] = context
        # The whole connection is TLS: aiosmtpd's require-TLS check knows only STARTTLS.
        smtp_options["auth_require_tls"] = False
    elif args.tls == "starttls":
        smtp_options.update(tls_context=context, require_starttls=True)

    handler = Handler(directory, args.slow, args.tls == "implicit")
    controller = Controller(handler, **options, **smtp_options)
    controller.start()
    print("READY port=%d ca=%s dir=%s" % (port, ca, directory), flush=True)
    try:
        # Runs until stdin closes (the test that started it is done) or it is killed.
        sys.stdin.read()
    finally:
        controller.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
