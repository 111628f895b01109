"""Inventory search on a data set with known answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from tests.api.helpers import add_range, submit
from tests.clock import FakeClock
from tests.conftest import bearer
from tests.factories import csr_pem


@pytest.fixture
def inventory(client: FlaskClient, tokens: dict[str, str], clock: FakeClock) -> dict[str, str]:
    add_range(client, tokens["admin"], "5.6.7.0/24")
    add_range(client, tokens["admin"], "2a00:1450::/32")
    plan: dict[str, tuple[str, dict[str, Any], int]] = {
        "A": ("requester", {"cn": "5.6.7.1"}, 90),
        "B": ("requester", {"cn": "b.example.net", "ips": ["5.6.7.200"]}, 90),
        "C": ("requester2", {"cn": "c.example.net", "ips": ["2a00:1450:4001::5"]}, 90),
        "D": ("requester", {"cn": "www.example.com"}, 10),
        "E": ("requester2", {"cn": "api.example.com", "dns": ["api.example.com", "deep.api.example.com"]}, 90),
        "F": ("requester", {"cn": "example.org"}, 90),
    }
    serials: dict[str, str] = {}
    for label, (who, names, days) in plan.items():
        response = submit(client, tokens[who], csr_pem(**names), validity_days=days)
        assert response.status_code == 201, response.get_json()
        serials[label] = response.get_json()["certificate"]["serial_number"]
        clock.advance(hours=1)
    client.post(f"/api/v1/certificates/{serials['F']}/revoke", json={"reason": "cessationOfOperation"}, headers=bearer(tokens["admin"]))
    return serials


def found(client: FlaskClient, tokens: dict[str, str], serials: dict[str, str], query: str) -> list[str]:
    response = client.get(f"/api/v1/certificates?{query}", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200, response.get_json()
    by_serial = {v: k for k, v in serials.items()}
    return [by_serial[item["serial_number"]] for item in response.get_json()["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ip=5.6.7.1", ["A"]),
        ("ip=5.6.7.0/24", ["A", "B"]),
        ("ip=5.6.7.0/25", ["A"]),
        ("ip=2a00:1450::/32", ["C"]),
        ("ip=2a00:1450:4001::5", ["C"]),
        ("ip=10.0.0.0/8", []),
        ("dns=www.example.com", ["D"]),
        ("dns=*.example.com", ["D", "E"]),
        ("dns=.api.example.com", ["E"]),
        ("dns=example.org", ["F"]),
        ("dns=*.example.org", []),
        ("status=revoked", ["F"]),
        ("status=valid", ["A", "B", "C", "D", "E"]),
        ("status=expired", []),
        ("requester=bob", ["C", "E"]),
        ("requester=alice&dns=*.example.com", ["D"]),
        ("expiring_within_days=30", ["D"]),
    ],
)
def test_filters(client: FlaskClient, tokens: dict[str, str], inventory: dict[str, str], query: str, expected: list[str]) -> None:
    assert found(client, tokens, inventory, query) == expected


def test_serial_and_dates(client: FlaskClient, tokens: dict[str, str], inventory: dict[str, str]) -> None:
    assert found(client, tokens, inventory, f"serial={inventory['C']}") == ["C"]
    everything = client.get("/api/v1/certificates", headers=bearer(tokens["auditor"])).get_json()["items"]
    cut = quote(everything[2]["not_before"])  # issued_at tracks not_before + 1 minute; C was issued third
    after = found(client, tokens, inventory, f"issued_after={cut}")
    assert after == ["C", "D", "E", "F"]
    assert found(client, tokens, inventory, f"issued_before={cut}") == ["A", "B"]


def test_pagination_is_stable(client: FlaskClient, tokens: dict[str, str], inventory: dict[str, str]) -> None:
    pages = [client.get(f"/api/v1/certificates?per_page=4&page={p}", headers=bearer(tokens["auditor"])).get_json() for p in (1, 2)]
    assert pages[0]["total"] == 6 and len(pages[0]["items"]) == 4 and len(pages[1]["items"]) == 2
    assert [i["serial_number"] for i in pages[0]["items"] + pages[1]["items"]] == list(inventory.values())


def test_bad_filter_is_400(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = client.get("/api/v1/certificates?ip=not-an-ip", headers=bearer(tokens["auditor"]))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_request"
    assert client.get("/api/v1/certificates?per_page=501", headers=bearer(tokens["auditor"])).status_code == 400


def test_pem_chain_by_accept_header(client: FlaskClient, tokens: dict[str, str], inventory: dict[str, str]) -> None:
    response = client.get(f"/api/v1/certificates/{inventory['A']}", headers={**bearer(tokens["requester"]),
                                                                             "Accept": "application/pem-certificate-chain"})
    assert response.status_code == 200 and response.mimetype == "application/pem-certificate-chain"
    assert response.get_data(as_text=True).count("BEGIN CERTIFICATE") == 3
    assert client.get(f"/api/v1/certificates/{inventory['C']}", headers=bearer(tokens["requester"])).status_code == 403
