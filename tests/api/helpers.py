"""Helpers for API tests: row counts and common calls."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlmodel import SQLModel, func, select

from service.process.runtime import Runtime
from tests.conftest import bearer

ROW_TABLES = ("requests", "certificates", "certificate_names", "exceptions", "approvals", "grants", "audit_events")


def row_counts(runtime: Runtime) -> dict[str, int]:
    """Rows per table that a submission or a decision may write."""
    counts = {}
    with runtime.db.read() as session:
        for name in ROW_TABLES:
            table = SQLModel.metadata.tables[name]
            counts[name] = session.exec(select(func.count()).select_from(table)).one()
    return counts


def submit(client: FlaskClient, token: str, csr: bytes, **extra: Any) -> Any:
    """POST a CSR in the JSON wrapper."""
    query = "?dry_run=true" if extra.pop("dry_run", False) else ""
    return client.post("/api/v1/requests" + query, json={"csr": csr.decode(), **extra}, headers=bearer(token))


def add_range(client: FlaskClient, admin: str, cidr: str, owner: str = "netops") -> Any:
    """Register an owned range through the API."""
    response = client.post("/api/v1/ranges", json={"cidr": cidr, "owner": owner}, headers=bearer(admin))
    assert response.status_code == 201, response.get_json()
    return response.get_json()
