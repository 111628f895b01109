"""Shared fixtures: a CA made once per session, a fresh database per test on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from service.process.bootstrap import audit_key_path
from service.audit.treehead import generate_log_key
from service.ca.authority import init_ca
from service.ca.keystore import CaKeyType, write_private_key
from service.process.config import Settings
from service.db.migrate import upgrade
from service.domain import Role
from service.process.runtime import Runtime
from tests.clock import FakeClock
from tests.softhsm import softhsm  # noqa: F401 - one SoftHSM2 token directory per test process, for every module

POSTGRES_URL = os.environ.get("CERTGATE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"]
BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def ca_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with a root + issuing CA and an audit-log key, made once (unencrypted)."""
    home = tmp_path_factory.mktemp("ca-home")
    init_ca(home / "ca", CaKeyType.P256, None, datetime.now(UTC), BASE_URL)
    path = audit_key_path(home)
    path.parent.mkdir(mode=0o700)
    write_private_key(path, generate_log_key(), None)
    return home


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test clones with CREATE DATABASE … TEMPLATE."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: set CERTGATE_TEST_POSTGRES_URL (scripts/test does)")
    name = f"certgate_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(_pg_url(name))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_url(database: str) -> str:
    assert POSTGRES_URL
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "certgate.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"certgate_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL or "", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield _pg_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def data_dir(ca_home: Path, tmp_path: Path) -> Path:
    """This test's copy of the data dir (so a test may change it)."""
    target = tmp_path / "data"
    shutil.copytree(ca_home, target)
    return target


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    """Settings for one test: its own data dir and database, the shipped policy."""
    return Settings.from_env({"CERTGATE_DATA_DIR": str(data_dir), "CERTGATE_DATABASE_URL": database_url,
                              "CERTGATE_BASE_URL": BASE_URL})


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test can move; starts at the real time."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    """The opened runtime of one test."""
    rt = Runtime.open(settings, clock=clock)
    yield rt
    rt.db.dispose()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    """The Flask app over the test's runtime."""
    from service.process.app import create_app

    return create_app(runtime.settings, runtime=runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client."""
    return app.test_client()


TOKEN_NAMES = {
    "requester": ("alice", Role.REQUESTER),
    "requester2": ("bob", Role.REQUESTER),
    "approver": ("carol", Role.APPROVER),
    "approver2": ("dave", Role.APPROVER),
    "auditor": ("erin", Role.AUDITOR),
    "admin": ("frank", Role.ADMIN),
}


# The domains every API test owns from the start, as it has its tokens: the names tests ask for
# (www.example.com, a.example.org ...) lie under them. `.example` and `.test` names are internal.
TEST_DOMAINS = ("example.com", "example.org", "example.net")


@pytest.fixture
def owned_domains(runtime: Runtime, clock: FakeClock) -> tuple[str, ...]:
    """The TEST_DOMAINS registered as owned."""
    from service.usecases.domains import add_domain

    with runtime.db.write() as session:
        for domain in TEST_DOMAINS:
            add_domain(session, domain=domain, owner="web", actor="test", now=clock(), suffixes=runtime.judge.suffixes)
    return TEST_DOMAINS


@pytest.fixture
def tokens(runtime: Runtime, clock: FakeClock, owned_domains: tuple[str, ...]) -> dict[str, str]:
    """One bearer secret per test identity (see TOKEN_NAMES), with the TEST_DOMAINS owned."""
    from service.tokens import create_token

    secrets: dict[str, str] = {}
    with runtime.db.write() as session:
        for key, (name, role) in TOKEN_NAMES.items():
            secrets[key] = create_token(session, name=name, role=role, actor="test", now=clock())
    return secrets


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {secret}"}
