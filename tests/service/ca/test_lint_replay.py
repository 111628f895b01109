"""Replaying repeated parts: the tracer tells local calls from cross-part ones, and the findings stay pkilint's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID
from pkilint import document, loader, validation
from pkilint.cabf import serverauth
from pyasn1_alt_modules import rfc5280

from service.ca.authority import CertificateAuthority, init_ca, new_serial
from service.ca.keystore import CaKeyType, signature_hash
from service.ca.lint import LeafKind, Linter
from service.ca.lint_dispatch import index_dispatch
from service.ca.lint_memo import LintMemo
from service.ca.lint_parts import build_tree, flatten
from service.ca.lint_replay import PartReplay, _Recorder, decoders_stay_below
from service.ca.profile import IssueOrder, leaf_builder
from tests.factories import key

NOW = datetime.now(UTC)
THROWAWAY = ec.generate_private_key(ec.SECP256R1())
KU_PATH = "certificate.tbsCertificate.extensions.1"  # certgate's profile: SAN, then key usage


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    home: Path = tmp_path_factory.mktemp("lintreplay") / "ca"
    init_ca(home, CaKeyType.P256, None, NOW, "http://127.0.0.1:8000")
    return CertificateAuthority.load(home, None, "http://127.0.0.1:8000")


def _leaf(ca: CertificateAuthority, index: int, kind: str = "p256", *, swap: dict[Any, Any] | None = None,
          reverse: bool = False) -> bytes:
    """A leaf of certgate's profile; `swap` replaces extensions in place (by OID), `reverse` flips their order."""
    name = f"h{index}.example.com"
    order = IssueOrder(key(kind, index).public_key(), common_name=name, dns_names=(name,), ip_addresses=(),
                       not_before=NOW, not_after=NOW + timedelta(days=90), serial=new_serial())
    cert = leaf_builder(order, ca.issuing_cert, ca.urls).sign(THROWAWAY, signature_hash(THROWAWAY))
    if swap or reverse:
        builder = x509.CertificateBuilder(cert.issuer, cert.subject, cert.public_key(), cert.serial_number,
                                          cert.not_valid_before_utc, cert.not_valid_after_utc)
        extensions = list(cert.extensions)[::-1] if reverse else list(cert.extensions)
        for e in extensions:
            builder = builder.add_extension((swap or {}).get(e.oid, e.value), e.critical)
        cert = builder.sign(THROWAWAY, signature_hash(THROWAWAY))
    return cert.public_bytes(serialization.Encoding.DER)


RSA_KU = x509.KeyUsage(True, False, True, False, False, False, False, False, False)  # what an RSA leaf carries
CA_TRUE = x509.BasicConstraints(ca=True, path_length=None)


def test_replayed_findings_equal_pkilints_where_the_same_part_bytes_meet_another_leaf(ca: CertificateAuthority) -> None:
    leaves = {
        "p256": [_leaf(ca, i) for i in range(3)],
        "rsa": [_leaf(ca, 10 + i, "rsa2048") for i in range(3)],
        # The RSA leaves' key usage bytes, at the same path, with a P-256 key: the part is
        # replayed, the check against the key (outside the part) must run again.
        "p256-with-rsa-ku": [_leaf(ca, 20 + i, swap={ExtensionOID.KEY_USAGE: RSA_KU}) for i in range(2)],
        # Every extension but basicConstraints as in a good leaf: the key usage checks that read cA run again.
        "ca-true": [_leaf(ca, 30 + i, swap={ExtensionOID.BASIC_CONSTRAINTS: CA_TRUE}) for i in range(2)],
        "reversed": [_leaf(ca, 40 + i, reverse=True) for i in range(3)],
    }
    plain = Linter(replayed=False)
    replaying = Linter()
    for _ in range(3):  # seen, recorded, replayed
        for name, ders in leaves.items():
            for der in ders:
                for kind in LeafKind:
                    assert replaying.lint(der, kind) == plain.lint(der, kind), (name, kind)
    assert replaying.replay is not None and replaying.replay.replayed > 100 and replaying.replay.templates_kept > 10
    codes = {name: {f.code for f in plain.lint(ders[0], LeafKind.DV)} for name, ders in leaves.items()}
    assert "pkix.key_usage_value_prohibited_for_ec" in codes["p256-with-rsa-ku"] - codes["p256"]
    assert "pkix.ca_certificate_keycertsign_keyusage_not_set" in codes["ca-true"] - codes["p256"]


class _ReadsOwnValue(validation.Validator):
    """Local: a finding from the key usage bits alone."""

    FOUND = validation.ValidationFinding(validation.ValidationFindingSeverity.NOTICE, "test.digital_signature")

    def __init__(self) -> None:
        super().__init__(validations=[self.FOUND], pdu_class=rfc5280.KeyUsage)

    def validate(self, node: Any) -> None:
        if node.pdu[0]:
            raise validation.ValidationFindingEncountered(self.FOUND)


class _ReadsDocument(validation.Validator):
    """Cross-part: asks the document whether the certificate is a CA."""

    def __init__(self) -> None:
        super().__init__(validations=[], pdu_class=rfc5280.KeyUsage)

    def validate(self, node: Any) -> None:
        assert node.document.is_ca is False


class _ClimbsOut(validation.Validator):
    """Cross-part: walks up past the extension to its siblings."""

    def __init__(self) -> None:
        super().__init__(validations=[], pdu_class=rfc5280.KeyUsage)

    def validate(self, node: Any) -> None:
        assert len(node.navigate("^.^.^.^").children) > 1


class _UnderNameConstraints(validation.Validator):
    """Local: asks only the classes of the values above it (as pkilint's URI checks do)."""

    FOUND = validation.ValidationFinding(validation.ValidationFindingSeverity.INFO, "test.not_in_name_constraints")

    def __init__(self) -> None:
        super().__init__(validations=[self.FOUND], pdu_class=rfc5280.KeyUsage)

    def validate(self, node: Any) -> None:
        if not any(isinstance(n.pdu, rfc5280.NameConstraints) for n in node.parents):
            raise validation.ValidationFindingEncountered(self.FOUND)


class _CountsExtensions(validation.Validator):
    """Cross-part: reads the extensions list's value above it (how many extensions the leaf has)."""

    FOUND = validation.ValidationFinding(validation.ValidationFindingSeverity.INFO, "test.extension_count")

    def __init__(self) -> None:
        super().__init__(validations=[self.FOUND], pdu_class=rfc5280.KeyUsage)

    def validate(self, node: Any) -> None:
        raise validation.ValidationFindingEncountered(self.FOUND, str(len(node.navigate("^.^.^.^").pdu)))


def _decoded_document(der: bytes) -> Any:
    doc = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    validation.ValidatorContainer(validators=serverauth.create_decoding_validators(), path="certificate").validate(doc.root)
    return doc


def test_the_recorder_replays_local_calls_and_keeps_cross_part_ones_live(ca: CertificateAuthority) -> None:
    container = validation.ValidatorContainer(validators=[_ReadsOwnValue(), _ReadsDocument(), _ClimbsOut(),
                                                          _UnderNameConstraints(), _CountsExtensions()])
    index_dispatch(container)
    doc = _decoded_document(_leaf(ca, 1))
    part = doc.root.navigate(KU_PATH.split(".", 1)[1])
    results: list[Any] = []
    program = _Recorder().record(container, part, results)
    assert program is not None
    kinds = [(event[0], type(event[2]).__name__) for event in program]
    assert kinds == [(0, "_ReadsOwnValue"), (1, "_ReadsDocument"), (1, "_ClimbsOut"),  # cached, live, live,
                     (0, "_UnderNameConstraints"), (1, "_CountsExtensions")]  # cached (isinstance only), live
    # The live call that was handed a probe ran again on the real values: its finding is pkilint's.
    assert [r.finding_descriptions for r in results if r.finding_descriptions] == [
        [validation.ValidationFindingDescription(_ReadsOwnValue.FOUND, None)],
        [validation.ValidationFindingDescription(_UnderNameConstraints.FOUND, None)],
        [validation.ValidationFindingDescription(_CountsExtensions.FOUND, "10")]]  # the TBS components
    assert all(type(node).__name__ == "PDUNode" for node in (part, *part.parents, *part.children.values()))


def test_a_tiny_program_memo_still_gives_pkilints_findings(ca: CertificateAuthority) -> None:
    leaves = [_leaf(ca, i, kind) for i, kind in enumerate(["p256", "rsa2048", "p384", "p256", "rsa2048"] * 3)]
    plain = Linter(replayed=False)
    tiny = Linter()
    assert tiny.replay is not None
    tiny.replay.programs = LintMemo(max_entries=5)  # parts and templates keep pushing each other out
    for der in leaves * 2:
        assert tiny.lint(der, LeafKind.DV) == plain.lint(der, LeafKind.DV)
    assert len(tiny.replay.programs) == 5


def test_a_copied_part_is_the_tree_pkilint_builds(ca: CertificateAuthority) -> None:
    linter = Linter((LeafKind.DV,))
    first, second = _leaf(ca, 1), _leaf(ca, 2)
    for _ in range(2):
        linter.lint(first, LeafKind.DV)  # seen, then the template is taken
    replay = linter.replay
    assert isinstance(replay, PartReplay)
    compiled = linter._compiled[LeafKind.DV]
    fresh: list[Any] = []
    parts: dict[str, bytes] = {}
    decoded = compiled._spliced.decode(second, fresh, parts)  # type: ignore[union-attr]
    templates = replay.templates(compiled._decoder, parts)
    assert KU_PATH in templates and "certificate.tbsCertificate.issuer" in templates
    copied: dict[str, Any] = {}
    doc = _decoded_document(second)
    root = build_tree(doc, decoded, templates, copied)
    assert set(copied) == set(templates)
    for path in copied:
        mine, theirs = root.navigate(path.split(".", 1)[1]), doc.root.navigate(path.split(".", 1)[1])
        assert mine.parent.path == theirs.parent.path and mine.document is doc
        assert [(n, p, parent) for n, p, _, parent in flatten(mine)[0]] == [
            (n, p, parent) for n, p, _, parent in flatten(theirs)[0]]
        assert [type(v) for *_, v, _ in flatten(mine)[0]] == [type(v) for *_, v, _ in flatten(theirs)[0]]


def test_replay_is_off_for_decoders_it_cannot_vouch_for() -> None:
    def decoding(*extra: validation.Validator) -> validation.ValidatorContainer:
        return validation.ValidatorContainer(validators=[*serverauth.create_decoding_validators(), *extra], path="certificate")

    upwards = validation.DecodingValidator(decode_func=document.ValueDecoder(
        type_path="^.extnID", value_path="extnValue", type_mappings={}), pdu_class=rfc5280.Extension)
    above = validation.DecodingValidator(decode_func=document.ValueDecoder(
        type_path="extnID", value_path="0.extnValue", type_mappings={}), pdu_class=rfc5280.Extensions)
    assert decoders_stay_below(decoding())
    assert not decoders_stay_below(decoding(upwards))  # reads above its node
    assert not decoders_stay_below(decoding(above))  # matched above the parts it would write into
    assert not decoders_stay_below(decoding(_ReadsOwnValue()))  # a non-decoder whose walk would be skipped
