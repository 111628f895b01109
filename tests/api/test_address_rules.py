"""The address rules end to end, lint on: inside and just outside every registry entry, then approved.

The expected verdicts come from an oracle written here from the registry rows alone (containment
by `ipaddress.ip_network`, which no Python release changes): under the Baseline Requirements an
address is public exactly when no row contains it; under the globally-reachable rule the most
specific row's column decides (N/A counts as no), and an IPv4-mapped or NAT64 address is judged
by the IPv4 address it carries. Every address is inside an owned range (0.0.0.0/0 and ::/0), so
a public one must be issued and the linter may not contradict the policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from policies import special_purpose as sp
from policies.config import DEFAULT_POLICY_PATH
from service.process.app import create_app
from service.process.config import Settings
from service.process.runtime import Runtime
from tests.api.helpers import add_range
from tests.clock import FakeClock
from tests.conftest import BASE_URL, bearer
from tests.factories import csr_pem

ROWS = [(4, row) for row in sp.IPV4_SPECIAL_ROWS + sp.IPV4_SPACE_ROWS] + [(6, row) for row in sp.IPV6_SPECIAL_ROWS + sp.IPV6_SPACE_ROWS]
NETWORKS = [(ipaddress.ip_network(row[0]), row) for _, row in ROWS]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def probes() -> list[Address]:
    """The first and last address of every entry, and the addresses just before and after it."""
    found: dict[str, Address] = {}
    for network, _ in NETWORKS:
        top = (1 << network.max_prefixlen) - 1
        first, last = int(network.network_address), int(network.broadcast_address)
        for value in (first - 1, first, last, last + 1):
            if 0 <= value <= top:
                address = ipaddress.ip_address(value) if network.version == 4 else ipaddress.IPv6Address(value)
                found[f"{network.version}:{value}"] = address
    return list(found.values())


def containing(address: Address) -> list[tuple[str, str, str, bool | None]]:
    """Every row containing `address`, most specific first."""
    rows = [(n, row) for n, row in NETWORKS if n.version == address.version and address in n]
    return [row for _, row in sorted(rows, key=lambda nr: -nr[0].prefixlen)]


def oracle_public(address: Address, rule: str) -> bool:
    rows = containing(address)
    if rule == "baseline-requirements":
        return not rows
    if isinstance(address, ipaddress.IPv6Address) and (address in ipaddress.ip_network("::ffff:0:0/96")
                                                       or address in ipaddress.ip_network("64:ff9b::/96")):
        return oracle_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), rule)
    return not rows or rows[0][3] is True


def _policy_file(tmp_path: Path, rule: str) -> Path:
    path = tmp_path / "policy.toml"
    text = DEFAULT_POLICY_PATH.read_text()
    assert 'rule = "baseline-requirements"' in text
    path.write_text(text.replace('rule = "baseline-requirements"', f'rule = "{rule}"'))
    return path


@pytest.fixture(params=["baseline-requirements", "globally-reachable"])
def rule(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rule_client(rule: str, data_dir: Path, sqlite_template: Path, tmp_path: Path, clock: FakeClock,
                tokens_for: Any) -> Iterator[tuple[FlaskClient, dict[str, str], Runtime]]:
    import shutil

    db = tmp_path / "rules.db"
    shutil.copyfile(sqlite_template, db)
    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(data_dir), "CERTGATE_DATABASE_URL": f"sqlite:///{db}",
                                  "CERTGATE_BASE_URL": BASE_URL, "CERTGATE_POLICY_FILE": str(_policy_file(tmp_path, rule))})
    runtime = Runtime.open(settings, clock=clock)
    assert runtime.judge.policy.lint_enabled and runtime.issuer.linter is not None
    client = create_app(settings, runtime=runtime).test_client()
    tokens = tokens_for(runtime)
    add_range(client, tokens["admin"], "0.0.0.0/0")
    add_range(client, tokens["admin"], "::/0")
    yield client, tokens, runtime
    runtime.db.dispose()


@pytest.fixture
def tokens_for(clock: FakeClock) -> Any:
    from service.domain import Role
    from service.tokens import create_token

    def make(runtime: Runtime) -> dict[str, str]:
        with runtime.db.write() as session:
            return {key: create_token(session, name=name, role=role, actor="test", now=clock())
                    for key, (name, role) in {"requester": ("alice", Role.REQUESTER), "approver": ("carol", Role.APPROVER),
                                              "admin": ("frank", Role.ADMIN)}.items()}
    return make


def test_every_entry_inside_and_just_outside_then_through_the_exception_path(
    rule: str, rule_client: tuple[FlaskClient, dict[str, str], Runtime]
) -> None:
    client, tokens, _ = rule_client
    shown = client.get("/api/v1/policy", headers=bearer(tokens["requester"])).get_json()
    assert shown["address_rule"] == rule
    wrong: list[str] = []
    pending: list[tuple[str, str]] = []
    addresses = probes()
    assert len(addresses) > 150  # 69 entries, four probes each, minus shared neighbours
    for address in addresses:
        text = str(ipaddress.ip_address(int(address))) if address.version == 4 else str(address)
        answer = client.post("/api/v1/requests", json={"csr": csr_pem(cn=None, ips=[text]).decode()},
                             headers=bearer(tokens["requester"]))
        body = answer.get_json()
        if oracle_public(address, rule):
            if answer.status_code != 201:
                wrong.append(f"{text}: expected issued, got {answer.status_code} {body}")
            continue
        codes = [v["code"] for v in body.get("violations", [])]
        if answer.status_code != 202 or codes != ["ip_not_public"]:
            wrong.append(f"{text}: expected ip_not_public, got {answer.status_code} {body}")
            continue
        if rule == "baseline-requirements":
            entry = containing(address)[0]
            message = body["violations"][0]["message"]
            if entry[0] not in message or entry[1] not in message:
                wrong.append(f"{text}: the message does not name {entry[0]} {entry[1]}: {message}")
        pending.append((text, body["exception"]["id"]))
    assert not wrong, "\n".join(wrong[:20])
    assert pending
    for text, review in pending:
        approved = client.post(f"/api/v1/exceptions/{review}/approve", json={"reason": "lab"},
                               headers=bearer(tokens["approver"]))
        if approved.status_code != 200 or approved.get_json()["status"] != "issued":
            wrong.append(f"{text}: approval did not issue: {approved.status_code} {approved.get_json()}")
    assert not wrong, "\n".join(wrong[:20])


@pytest.mark.parametrize(("ip", "br", "gr"), [
    ("192.0.0.9", False, True), ("192.31.196.1", False, True), ("192.52.193.1", False, True),
    ("2001:3::1", False, True), ("2001:4:112::1", False, True), ("2001:20::1", False, True),
    ("2001:30::1", False, True), ("2001:1::1", False, True), ("64:ff9b::808:808", False, True),
    ("::ffff:8.8.8.8", False, True), ("2001:100::1", False, False), ("2001:200::1", True, True), ("10.0.0.1", False, False),
    ("8.8.8.8", True, True), ("2a00:1450::1", True, True), ("ff02::1", False, False), ("4000::1", False, False),
])
def test_known_addresses_under_each_rule(ip: str, br: bool, gr: bool) -> None:
    """Spot checks named in the issue, against the oracle (which the end-to-end test then uses)."""
    address = ipaddress.ip_address(ip)
    assert (oracle_public(address, "baseline-requirements"), oracle_public(address, "globally-reachable")) == (br, gr)
