"""The memoized linter finds exactly what pkilint's own path finds, and never changes what it remembers."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID
from pkilint.document import PDUNode
from pyasn1.codec.der.encoder import encode
from pyasn1.type.base import noValue

from service.ca.authority import CertificateAuthority, init_ca, new_serial
from service.ca.keystore import CaKeyType, signature_hash
from service.ca.lint import LeafKind, LintFinding, Linter
from service.ca.lint_memo import LintMemo
from service.ca.profile import IssueOrder, leaf_builder
from tests.factories import key

NOW = datetime.now(UTC)
THROWAWAY = ec.generate_private_key(ec.SECP256R1())


def _ca(home: Path, base_url: str) -> CertificateAuthority:
    init_ca(home, CaKeyType.P256, None, NOW, base_url)
    return CertificateAuthority.load(home, None, base_url)


def _leaf(ca: CertificateAuthority, index: int, *, kind: str = "p256", drop: x509.ObjectIdentifier | None = None,
          extra: x509.ExtensionType | None = None, **names: Any) -> bytes:
    """A leaf of certgate's profile (signed by a throwaway key, as the pre-issuance lint sees it),
    optionally without the extension `drop` or with `extra` added: a broken profile."""
    spec: dict[str, Any] = dict(common_name=f"h{index}.example.com", dns_names=(f"h{index}.example.com",), ip_addresses=())
    spec.update(names)
    order = IssueOrder(key(kind, index).public_key(), not_before=NOW, not_after=NOW + timedelta(days=90),
                       serial=new_serial(), **spec)
    cert = leaf_builder(order, ca.issuing_cert, ca.urls).sign(THROWAWAY, signature_hash(THROWAWAY))
    if drop is not None or extra is not None:
        extensions = [e for e in cert.extensions if e.oid != drop]
        builder = x509.CertificateBuilder(cert.issuer, cert.subject, cert.public_key(), cert.serial_number,
                                          cert.not_valid_before_utc, cert.not_valid_after_utc)
        for e in extensions:
            builder = builder.add_extension(e.value, e.critical)
        if extra is not None:
            builder = builder.add_extension(extra, critical=False)
        cert = builder.sign(THROWAWAY, signature_hash(THROWAWAY))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def leaves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("lintmemo")
    local = _ca(root / "local", "http://127.0.0.1:8000")
    public = _ca(root / "public", "https://ca.example.net")  # other CRL/AIA/AKI bytes, same schemas
    undecodable_ku = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.15"), b"\x05\x00")
    return {
        "dv-p256": _leaf(local, 1),
        "dv-p256-other-name": _leaf(local, 2, common_name=None, dns_names=("a.example.org", "b.example.org")),
        "dv-rsa": _leaf(local, 3, kind="rsa2048"),  # keyUsage with keyEncipherment: other bytes
        "dv-p384": _leaf(local, 4, kind="p384"),  # other curve parameters
        "internal-ip": _leaf(local, 5, common_name=None, dns_names=(), ip_addresses=("10.1.2.3", "fd00::1")),
        "many-names": _leaf(local, 6, common_name=None, dns_names=tuple(f"n{i}.example.com" for i in range(100))),
        "localhost": _leaf(local, 7, common_name="localhost", dns_names=("localhost",), ip_addresses=("127.0.0.1",)),
        "ov": _leaf(local, 8, organization="Example Org", country="US", locality="Springfield", state_or_province="IL"),
        "ov-rsa": _leaf(local, 9, kind="rsa2048", organization="Example Org", country="US", locality="Springfield"),
        "no-aia": _leaf(local, 10, drop=ExtensionOID.AUTHORITY_INFORMATION_ACCESS),
        "no-eku": _leaf(local, 11, drop=ExtensionOID.EXTENDED_KEY_USAGE),
        "bad-key-usage-bytes": _leaf(local, 12, drop=ExtensionOID.KEY_USAGE, extra=undecodable_ku),
        "ldap-crl": _leaf(local, 13, drop=ExtensionOID.CRL_DISTRIBUTION_POINTS, extra=x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier("ldap://ldap.example.com/cn=crl")], None, None, None)])),
        "public-ca": _leaf(public, 14),
        "public-ca-ov": _leaf(public, 15, organization="Example Org", country="US", locality="Springfield"),
    }


def _order(names: list[str]) -> list[str]:
    """Every leaf many times, the plain DV leaf between every other one: the same extension bytes
    seen again and again, and leaves with different bytes in between."""
    sequence = []
    for _ in range(3):
        for name in names:
            sequence += ["dv-p256", name, "dv-p256"]
    return sequence


def test_memoized_findings_equal_pkilints_own(leaves: dict[str, bytes]) -> None:
    plain = Linter(indexed=False, memoized=False)  # pkilint's dispatch, every value decoded afresh
    expected = {name: plain.lint(der) for name, der in leaves.items()}
    memoized = Linter()
    for name in _order(list(leaves)):
        assert memoized.lint(leaves[name]) == expected[name], name
    assert memoized.memo is not None and memoized.memo.hits > 100  # the memo was used, not bypassed
    # The leaves do differ where they should: the broken profiles, the OV leaves, the internal names.
    codes = {name: {f.code for f in found} for name, found in expected.items()}
    assert "itu.invalid_asn1_syntax" in codes["bad-key-usage-bytes"]
    assert "pkix.ldap_uri_not_validated" in codes["ldap-crl"]
    assert "cabf.internal_ip_address" in codes["internal-ip"]
    assert codes["no-aia"] != codes["dv-p256"] and codes["no-eku"] != codes["dv-p256"]
    assert codes["ov"] != codes["dv-p256"]


def _shape(value: Any, seen: set[int] | None = None) -> Any:
    """Everything pyasn1 holds in `value`, read without going through its accessors (which
    instantiate absent components): component objects by identity, scalars by value."""
    components = getattr(value, "_componentValues", None)
    if components is None:
        return (type(value).__name__, repr(getattr(value, "_value", None)))
    if components is noValue:
        return (type(value).__name__, "noValue")
    items = components.items() if isinstance(components, dict) else enumerate(components)
    return (type(value).__name__, getattr(value, "_currentIdx", None),
            tuple((i, id(c), "noValue" if c is noValue else _shape(c)) for i, c in items))


def test_linting_never_changes_a_remembered_value(leaves: dict[str, bytes]) -> None:
    linter = Linter()
    for der in leaves.values():
        linter.lint(der)
    assert linter.memo is not None
    before = {key: _shape(result[1]) for key, result in linter.memo.items() if key[0] == "decode"}
    assert len(before) > 10
    for name in _order(list(leaves)):
        linter.lint(leaves[name])
    after = {entry: _shape(result[1]) for entry, result in linter.memo.items() if entry in before}
    assert after == {entry: shape for entry, shape in before.items() if entry in after}
    assert len(after) > 10
    for entry, result in linter.memo.items():
        if entry[0] == "decode":
            assert encode(result[1]) == entry[2]  # still the DER it was decoded from


def test_threads_sharing_one_memoized_linter_find_the_same(leaves: dict[str, bytes]) -> None:
    plain = Linter(indexed=False, memoized=False)
    expected = {name: plain.lint(der) for name, der in leaves.items()}
    shared = Linter()
    seen: list[tuple[str, list[LintFinding]]] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        names = _order(list(leaves))
        for name in names[offset:] + names[:offset]:
            found = shared.lint(leaves[name])
            with lock:
                seen.append((name, found))

    threads = [threading.Thread(target=work, args=(i * 7,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 * len(_order(list(leaves)))
    assert all(found == expected[name] for name, found in seen)


def test_memo_is_bounded_and_drops_the_least_recently_used() -> None:
    memo = LintMemo(max_entries=3)
    for i in range(3):
        memo.put(("k", i), i)
    assert memo.get(("k", 0)) == 0  # 0 is now the most recent
    memo.put(("k", 3), 3)
    assert len(memo) == 3
    assert memo.get(("k", 1)) is None
    assert [k for k, _ in memo.items()] == [("k", 2), ("k", 0), ("k", 3)]


def test_a_memo_entry_only_serves_its_own_schema_object(leaves: dict[str, bytes]) -> None:
    linter = Linter((LeafKind.DV,), memoized=True)
    linter.lint(leaves["dv-p256"])
    assert linter.memo is not None
    for entry, result in linter.memo.items():
        if entry[0] == "decode":
            assert entry[1] == id(result[0])  # the entry holds its schema, so that id is not reused meanwhile


def test_long_substrates_are_not_kept(leaves: dict[str, bytes]) -> None:
    linter = Linter((LeafKind.DV,))
    linter.lint(leaves["many-names"])
    assert linter.memo is not None
    assert all(len(key[2]) <= linter.memo.max_substrate for key, _ in linter.memo.items() if key[0] == "decode")


def test_a_linted_tree_is_freed_by_reference_counting(leaves: dict[str, bytes]) -> None:
    """No pkilint node outlives its lint: the collector has no certificate trees to walk."""
    linter = Linter(kinds=(LeafKind.DV,))

    def live_nodes() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, PDUNode))

    linter.lint(leaves["many-names"], LeafKind.DV)  # builds the validators' own objects first
    gc.collect()
    before = live_nodes()
    gc.disable()
    try:
        for name in ("dv-p256", "many-names", "internal-ip", "bad-key-usage-bytes"):
            assert linter.lint(leaves[name], LeafKind.DV) == linter.lint(leaves[name], LeafKind.DV)
        assert live_nodes() == before
    finally:
        gc.enable()
