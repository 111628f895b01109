"""The indexed lint dispatch finds exactly what pkilint's own dispatch finds, on certgate's leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.ca.authority import CertificateAuthority, init_ca, new_serial
from service.ca.keystore import CaKeyType
from service.ca.lint import LeafKind, Linter
from service.ca.profile import IssueOrder
from tests.factories import key

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    home: Path = tmp_path_factory.mktemp("lintca") / "ca"
    init_ca(home, CaKeyType.P256, None, NOW, "http://127.0.0.1:8000")
    return CertificateAuthority.load(home, None, "http://127.0.0.1:8000")


ORDERS = {
    "dv-p256": dict(common_name="www.example.com", dns_names=("www.example.com",), ip_addresses=()),
    "rsa": dict(common_name="rsa.example.com", dns_names=(), ip_addresses=(), kind="rsa2048"),
    "internal-ip": dict(common_name=None, dns_names=(), ip_addresses=("10.1.2.3", "fd00::1")),
    "many-names": dict(common_name=None, dns_names=tuple(f"n{i}.example.com" for i in range(100)), ip_addresses=("5.6.7.8",)),
    "localhost": dict(common_name="localhost", dns_names=("localhost",), ip_addresses=("127.0.0.1",)),
}


@pytest.mark.parametrize("name", list(ORDERS))
def test_indexed_dispatch_matches_pkilint(ca: CertificateAuthority, name: str) -> None:
    spec = dict(ORDERS[name])
    public = key(str(spec.pop("kind", "p256"))).public_key()
    order = IssueOrder(public, not_before=NOW, not_after=NOW + timedelta(days=90), serial=new_serial(), **spec)  # type: ignore[arg-type]
    issued = ca.issue(order, linter=None)
    fast, plain = Linter((LeafKind.DV,)), Linter((LeafKind.DV,), indexed=False)
    assert fast.lint(issued.der, LeafKind.DV) == plain.lint(issued.der, LeafKind.DV)
