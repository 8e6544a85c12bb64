import pytest

from latchkey_e2e import BINARY, SMTPSink, Browser, Phone, Server, seed_template


def pytest_configure(config):
    if not BINARY.exists():
        raise pytest.UsageError(f"{BINARY} is missing: build it first (swift build --product latchkey)")


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """The demo seeded once; each test gets its own copy of the database and server key."""
    return seed_template(tmp_path_factory.mktemp("template") / "data")


@pytest.fixture
def server(template, tmp_path, request):
    served = Server(template, tmp_path / "server")
    yield served
    served.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("---- server log (tail) ----\n" + served.log_path.read_text()[-3000:])


@pytest.fixture
def smtp_sink():
    sink = SMTPSink()
    yield sink
    sink.stop()


@pytest.fixture
def mail_server(template, tmp_path, request, smtp_sink):
    """`latchkey demo --smtp-url …`: the demo sending its mail for real to the SMTP sink."""
    served = Server(template, tmp_path / "server", extra_args=["--smtp-url", smtp_sink.url],
                    extra_env={"LATCHKEY_SMTP_CA_FILE": smtp_sink.ca_file,
                               "LATCHKEY_MAIL_FROM": "Acme Security <security@acme.test>"})
    yield served
    served.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("---- server log (tail) ----\n" + served.log_path.read_text()[-3000:])


@pytest.fixture
def mail_browsers(mail_server, phone, tmp_path):
    yield from browser_factory(mail_server, phone, tmp_path)


@pytest.fixture
def phone():
    return Phone()


def browser_factory(server, phone, tmp_path):
    """Opens one Chromium per person in the test; each has its own cookies and downloads."""
    opened = []

    def open_browser():
        browser = Browser(server, phone, tmp_path / f"browser{len(opened)}")
        opened.append(browser)
        return browser

    yield open_browser
    for browser in opened:
        browser.quit()


@pytest.fixture
def browsers(server, phone, tmp_path):
    yield from browser_factory(server, phone, tmp_path)


@pytest.fixture
def browser(browsers):
    return browsers()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
