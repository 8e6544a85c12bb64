"""The browser suite's parts: a real `latchkey demo` server on a fresh database, a real Chromium driven by
selenium, `oathtool` as the member's phone, and read access to the server's SQLite file to check what it
holds after each step."""

import csv
import importlib.util
import io
import json
import os
import re
import email
import email.policy
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("LATCHKEY_BIN", ROOT / ".build" / "debug" / "latchkey"))
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOT_DIR", ROOT / ".build-e2e" / "screenshots"))
PASSWORD = "latchkey-demo-pass"
# axe-selenium-python drives the checks; it bundles axe-core 3.1 (2018), which lacks current rules and flags
# autocomplete="username" on an email field by mistake, so it runs the current axe-core 4.x script that the
# axe-playwright-python wheel carries (installed without its Playwright dependency).
AXE_SCRIPT = Path(importlib.util.find_spec("axe_playwright_python").origin).parent / "axe.min.js"
DESKTOP = (1280, 800)
PHONE = (390, 844)


# MARK: the member's phone


class Phone:
    """Reads TOTP codes with oathtool, never offering a time step it has already used for that secret
    (the server refuses a replayed step, as it must)."""

    def __init__(self):
        self.used = {}

    @staticmethod
    def code_at(secret, step):
        return subprocess.check_output(["oathtool", "--totp", "-b", secret, "-N", f"@{step * 30}"], text=True).strip()

    def code(self, secret):
        while True:
            now = int(time.time()) // 30
            step = max(now, self.used.get(secret, -1) + 1)
            if step <= now + 1:  # the server accepts one step either side of now
                self.used[secret] = step
                return self.code_at(secret, step)
            time.sleep(30 - time.time() % 30 + 0.2)

    def wrong_code(self, secret):
        """A six-digit code valid for no step the server would accept now."""
        now = int(time.time()) // 30
        valid = {self.code_at(secret, step) for step in range(now - 2, now + 3)}
        candidate = int(self.code_at(secret, now))
        while f"{candidate:06d}" in valid:
            candidate = (candidate + 111111) % 1000000
        return f"{candidate:06d}"


# MARK: the server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_template(directory):
    """Seeds the demo once (`latchkey demo --seed-only`); every test then starts from a copy of it."""
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LATCHKEY_DATA_DIR=str(directory), LOG_LEVEL="warning")
    subprocess.run(
        [str(BINARY), "demo", "--database", str(directory / "latchkey.sqlite"), "--seed-only",
         "--credentials-file", str(directory / "credentials.json")],
        env=env, check=True, stdout=subprocess.DEVNULL)
    return directory


class Server:
    """A `latchkey demo` process serving a fresh copy of the seeded database on a free loopback port."""

    def __init__(self, template, directory, extra_args=(), extra_env=None):
        shutil.copytree(template, directory)
        self.directory = directory
        self.db_path = directory / "latchkey.sqlite"
        self.accounts = {a["email"]: a for a in json.loads((directory / "credentials.json").read_text())}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "server.log"
        env = dict(os.environ, LATCHKEY_DATA_DIR=str(directory), LATCHKEY_JOB_CHUNK_SIZE="20",
                   LATCHKEY_JOB_CHUNK_PAUSE_MS="500", **(extra_env or {}))
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(BINARY), "demo", "--database", str(self.db_path), "--host", "127.0.0.1", "--port", str(self.port),
             *extra_args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("latchkey demo did not start:\n" + self.log_path.read_text()[-4000:])
            time.sleep(0.1)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    # What the server holds.

    def query(self, sql, *params):
        connection = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        connection.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()

    def scalar(self, sql, *params):
        rows = self.query(sql, *params)
        return next(iter(rows[0].values())) if rows else None

    def execute(self, sql, *params):
        """An out-of-band change (what another administrator or time would do), outside the page under test."""
        connection = sqlite3.connect(self.db_path, timeout=10)
        try:
            with connection:
                connection.execute(sql, params)
        finally:
            connection.close()

    def member(self, email):
        rows = self.query("SELECT * FROM members WHERE email = ?", email)
        assert rows, f"no member {email}"
        return rows[0]

    def second_factor_failures(self, email):
        """The member's wrong-code count in the sign-in throttles (0 when none is stored)."""
        return self.scalar(
            "SELECT failures FROM sign_in_throttles WHERE kind = 'second_factor' AND email = ?", email) or 0

    def member_id(self, email):
        return self.member(email)["id"]

    def mfa_status(self, email):
        return self.member(email)["mfa_status"]

    def authenticators(self, email):
        return self.scalar("SELECT count(*) FROM totp_credentials WHERE member_id = ?", self.member_id(email))

    def recovery_codes(self, email, unused_only=False):
        sql = "SELECT count(*) FROM recovery_codes WHERE member_id = ?"
        if unused_only:
            sql += " AND used_at IS NULL"
        return self.scalar(sql, self.member_id(email))

    def sessions(self, email, state="signed_in"):
        return self.scalar("SELECT count(*) FROM sessions WHERE member_id = ? AND state = ?",
                           self.member_id(email), state)

    def audit(self, action, target=None, result=None):
        sql = "SELECT * FROM audit_events WHERE action = ?"
        params = [action]
        if target:
            sql += " AND target_email = ?"
            params.append(target)
        if result:
            sql += " AND result = ?"
            params.append(result)
        return self.query(sql + " ORDER BY seq", *params)

    def mail_to(self, email):
        return self.query("SELECT * FROM mail_outbox WHERE to_email = ? ORDER BY created_at", email)


# MARK: the mail server


class SMTPSink:
    """A real SMTP server (aiosmtpd via scripts/smtp-sink) with STARTTLS on a throwaway CA and AUTH."""

    USER, PASSWORD = "latchkey", "sink pass"

    def __init__(self):
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "smtp-sink"), "--auth", f"{self.USER}:{self.PASSWORD}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError("the SMTP sink did not start: " + line)
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.port, self.ca_file, self.directory = int(fields["port"]), fields["ca"], Path(fields["dir"])
        self.url = f"smtp://{self.USER}:{self.PASSWORD.replace(' ', '%20')}@localhost:{self.port}"

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)

    def messages(self):
        """Every accepted message as (envelope, email.message.EmailMessage), oldest first."""
        found = []
        for meta in sorted(self.directory.glob("*.json")):
            envelope = json.loads(meta.read_text())
            raw = meta.with_suffix(".eml").read_bytes()
            found.append((envelope, email.message_from_bytes(raw, policy=email.policy.default)))
        return found

    def wait_for(self, recipient, subject_part, timeout=20):
        """The first message to `recipient` whose subject holds `subject_part`, waiting for it to arrive."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for envelope, message in self.messages():
                if recipient in envelope["rcpt_tos"] and subject_part in message["subject"]:
                    return envelope, message
            time.sleep(0.2)
        raise AssertionError(f"no mail to {recipient} about {subject_part!r}: "
                             f"{[(e['rcpt_tos'], m['subject']) for e, m in self.messages()]}")


def link_in(message):
    """The first http(s) link in a message's text part."""
    text = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://\S+", text)
    assert match, text
    return match.group(0)


# MARK: the browser


def chromium(download_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--force-device-scale-factor=1", "--lang=en-US"]:
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir), "download.prompt_for_download": False,
        "credentials_enable_service": False, "profile.password_manager_enabled": False,
        "profile.password_manager_leak_detection": False,
    })
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Browser:
    """One person's browser: Chromium with its own cookies, and the checks every page gets."""

    def __init__(self, server, phone, directory):
        self.server = server
        self.phone = phone
        self.downloads = directory / "downloads"
        self.downloads.mkdir(parents=True, exist_ok=True)
        self.driver = chromium(self.downloads)
        self.driver.implicitly_wait(0)
        self.driver.get("about:blank")
        self.set_viewport(DESKTOP)

    def quit(self):
        self.driver.quit()

    # Navigation and reading.

    def open(self, path):
        self.driver.get(self.server.base + path)

    @property
    def path(self):
        url = self.driver.current_url
        return url[len(self.server.base):] if url.startswith(self.server.base) else url

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css="body"):
        return self.find(css).text

    def wait(self, condition, timeout=10, message=""):
        return WebDriverWait(self.driver, timeout).until(condition, message)

    def wait_for(self, css, timeout=10):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, f"{css} not visible")

    def click_to_load(self, element, timeout=10):
        """Clicks a control that submits or navigates, and waits until the next page has replaced this one, so
        that what is read next (an alert, the database) is the answer to this click and not to the one before."""
        self.replaced(lambda: element.click(), timeout)

    def replaced(self, act, timeout=10):
        """Does `act` (a click, a form's submission) and waits until the next page has replaced this one."""
        page = self.find("html")
        act()
        # While the old page goes, chromedriver can answer a question about its element with "unhandled inspector
        # error" instead of "stale element": that is the navigation under way, so ask again.
        WebDriverWait(self.driver, timeout, ignored_exceptions=(WebDriverException,)).until(
            EC.staleness_of(page), "no new page loaded")

    def wait_for_path(self, prefix, timeout=10):
        """Waits until the page is at `prefix` (with any query or fragment), or below it when `prefix` ends with
        "/" and is not the root: "/" alone means the overview, not every path."""
        def arrived(path):
            if prefix.endswith("/") and prefix != "/":
                return path.startswith(prefix)
            return path == prefix or path.startswith(prefix + "?") or path.startswith(prefix + "#")
        try:
            self.wait(lambda d: arrived(self.path), timeout)
        except TimeoutException:
            raise AssertionError(f"expected {prefix}, still at {self.path}: {self.text()[:500]}")

    def active(self):
        return self.driver.switch_to.active_element

    def alert_text(self):
        alerts = self.find_all("[role=alert], [role=status].alert")
        return " ".join(a.text for a in alerts)

    def csrf(self):
        return self.find("input[name=_csrf]").get_attribute("value")

    def submit_form(self, action, fields):
        """Builds and submits a form in the page, as a forged request from this session would, and waits for the
        answer's page."""
        self.replaced(lambda: self.driver.execute_script(
            """
            const [action, fields] = arguments;
            const form = document.createElement("form");
            form.method = "post"; form.action = action;
            for (const [name, value] of fields) {
              const input = document.createElement("input");
              input.type = "hidden"; input.name = name; input.value = value; form.append(input);
            }
            document.body.append(form);
            form.submit();
            """, action, [[k, v] for k, v in fields]))

    # The Manage Members table.

    def open_row_menu(self, email):
        """Opens the ⋮ menu of the member's row (by id: two members may share a name, as two Jane Does do here)."""
        button = self.find(f"#menu-{self.server.member_id(email).lower()}")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", button)
        button.click()
        menu = self.find("#" + button.get_attribute("aria-controls"))
        assert menu.is_displayed() and button.get_attribute("aria-expanded") == "true"
        return button, menu

    def disabled_item_hint(self, menu, css):
        """The reason a rule disables a menu item, as screen readers get it: the element its aria-describedby names."""
        item = menu.find_element(By.CSS_SELECTOR, css)
        assert item.get_attribute("aria-disabled") == "true", f"{css} is not disabled"
        return item, self.find("#" + item.get_attribute("aria-describedby")).text

    def mfa_cell(self, email):
        member_id = self.server.member_id(email).lower()
        return self.find(f"tr[data-member-id='{member_id}'] .col-mfa").text.split("\n")[-1]

    # Signing in.

    def sign_in_password(self, email, password=PASSWORD):
        self.driver.delete_all_cookies()
        self.open("/login")
        self.find("#email").send_keys(email)
        self.find("#password").send_keys(password)
        self.find("form[action='/login'] button[type=submit]").click()

    def enter_code(self, code):
        field = self.wait_for("#code")
        field.clear()
        field.send_keys(code)
        field.send_keys(Keys.ENTER)

    def sign_in(self, email):
        """Password, then a fresh code from the phone; ends on the overview page."""
        self.sign_in_password(email)
        self.wait_for_path("/login/mfa")
        self.enter_code(self.phone.code(self.server.accounts[email]["totpSecret"]))
        self.wait_for_path("/")
        assert self.path in ("/", "/#"), f"sign-in of {email} ended at {self.path}: {self.alert_text()}"

    def sign_out(self):
        self.find("form[action='/logout'] button").click()
        self.wait_for_path("/login")

    # Accessibility and screenshots.

    def check_accessibility(self, name):
        """axe-core on the page as it is now (with any open menu or modal): no serious or critical violation."""
        axe = Axe(self.driver, script_url=str(AXE_SCRIPT))
        axe.inject()
        results = axe.run(options='{"resultTypes": ["violations"]}')
        bad = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: " + axe.report(bad)

    def check_accessibility_at_both_sizes(self, name):
        """axe at the desktop size and at 390×844, as the page is now."""
        self.check_accessibility(name)
        self.set_viewport(PHONE)
        try:
            self.check_accessibility(name + " (phone)")
        finally:
            self.set_viewport(DESKTOP)

    def set_viewport(self, size):
        """Sizes the window so that the page itself gets exactly `size` CSS pixels."""
        width, height = size
        for _ in range(3):
            inner = self.driver.execute_script("return [window.innerWidth, window.innerHeight]")
            if inner == [width, height]:
                return
            outer = self.driver.get_window_size()
            self.driver.set_window_size(outer["width"] + width - inner[0], outer["height"] + height - inner[1])

    def screenshot(self, name, size=DESKTOP):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.set_viewport(size)
        time.sleep(0.15)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        if size != DESKTOP:
            self.set_viewport(DESKTOP)

    # Files.

    def downloaded(self, suffix, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            done = [p for p in self.downloads.iterdir() if p.name.endswith(suffix)]
            if done:
                return done[0]
            time.sleep(0.1)
        raise AssertionError(f"no {suffix} download in {list(self.downloads.iterdir())}")


def read_csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def decode_qr(png_path):
    """zbarimg reads the QR code out of a screenshot, as a phone's camera would."""
    output = subprocess.check_output(["zbarimg", "--quiet", "--raw", str(png_path)], text=True)
    return output.strip()
