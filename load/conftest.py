import os

import pytest

from latchkey_load import BINARY, PostgresDatabases, Server, SQLiteDatabases


def pytest_configure(config):
    if not BINARY.exists():
        raise pytest.UsageError(f"{BINARY} is missing: build it first (swift build --product latchkey)")
    if not os.environ.get("LOAD_POSTGRES_URL"):
        raise pytest.UsageError("LOAD_POSTGRES_URL (postgres://user@host:port of a cluster to create databases on) "
                                "is required: every load test runs on SQLite and on PostgreSQL (scripts/load sets it)")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def databases(request, tmp_path_factory):
    """The demo seeded once per engine; every test serves a fresh copy."""
    directory = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        return SQLiteDatabases(directory)
    return PostgresDatabases(os.environ["LOAD_POSTGRES_URL"], directory)


@pytest.fixture
def server(databases, tmp_path, request):
    served = Server(databases, tmp_path / "server")
    yield served
    served.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("---- server log (tail) ----\n" + served.log_path.read_text()[-3000:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
