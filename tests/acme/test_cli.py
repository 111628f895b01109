"""`certgate acme eab create|list|revoke` and `certgate acme renew-all` through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from service.cli import main
from service.process.runtime import Runtime
from tests.acme.client import AcmeTestClient


def _run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def env(acme_runtime: Runtime) -> dict[str, str]:
    """The CLI pointed at the test's data dir and database."""
    s = acme_runtime.settings
    return {"CERTGATE_DATA_DIR": str(s.data_dir), "CERTGATE_DATABASE_URL": s.database_url, "CERTGATE_BASE_URL": s.base_url}


def test_eab_create_list_revoke(env: dict[str, str], http: FlaskClient, tmp_path: Path) -> None:
    kid, hmac_key = _run(env, "acme", "eab", "create", "--requester", "alice").strip().splitlines()[-1].split()
    listed = _run(env, "acme", "eab", "list")
    assert f"{kid}\talice\tunused" in listed and hmac_key not in listed
    client = AcmeTestClient(http)
    assert client.register((kid, hmac_key)).status_code == 201
    assert f"{kid}\talice\tbound:" in _run(env, "acme", "eab", "list")
    _run(env, "acme", "eab", "revoke", kid)
    assert f"{kid}\talice\trevoked" in _run(env, "acme", "eab", "list")
    refused = client.post("/new-order", {"identifiers": [{"type": "dns", "value": "www.example.com"}]})
    assert refused.status_code == 403 and refused.get_json()["detail"] == "the account is revoked"
    assert "revoked already" in _run(env, "acme", "eab", "revoke", kid, code=1)
    assert "does not start with 'acme:'" in _run(env, "acme", "eab", "create", "--requester", "acme:x", code=1)


def test_renew_all_needs_a_reason_and_is_audited(env: dict[str, str], acme_runtime: Runtime) -> None:
    assert "reason is required" in _run(env, "acme", "renew-all", "--reason", " ", code=1)
    assert "due for renewal" in _run(env, "acme", "renew-all", "--reason", "CA rollover")
    from sqlmodel import select

    from service.db.models import AuditEvent

    with acme_runtime.db.read() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.event == "acme:renew_all")).all()
    assert [e.data["reason"] for e in events] == ["CA rollover"]
