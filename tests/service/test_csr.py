"""Tests for service.csr: bodies to DER, strict parsing, signature checks, names and facts.

CSRs come from `openssl req` (an independent encoder) where it can write them, from
`cryptography`'s builder for name variants, and from `tests/testdata/csr/` (crafted by
`make_odd_csrs.py`) for what neither will produce.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.facts import KeyAlgorithm, RequestFacts
from service.csr import VerifiedCsr, decode_csr_body, load_csr, parse_csr, request_facts
from service.errors import CertgateError, CsrSignatureInvalid, MalformedCsr, PolicyRejected

TESTDATA = Path(__file__).parent.parent / "testdata" / "csr"


# --- keys and CSRs ------------------------------------------------------------------------------

KEY_COMMANDS: dict[str, list[str]] = {
    "rsa2048": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "rsa3072": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
    "rsa4096": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
    "p256": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "p521": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    "secp256k1": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
    "brainpool": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1"],
    "ed25519": ["genpkey", "-algorithm", "ED25519"],
    "ed448": ["genpkey", "-algorithm", "ED448"],
    "dsa": ["dsaparam", "-genkey", "2048"],
    "explicit_p256": ["ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-genkey"],
    "rsa_pss": ["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"],
}


def openssl(*args: str, data: bytes | None = None) -> bytes:
    result = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True)
    return result.stdout


class Keys:
    """Module-wide cache of openssl-generated keys: each type is made once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: dict[str, Path] = {}

    def path(self, kind: str) -> Path:
        if kind not in self.paths:
            target = self.folder / f"{kind}.pem"
            command, *options = KEY_COMMANDS[kind]
            openssl(command, "-out", str(target), *options)  # dsaparam wants numbits last
            self.paths[kind] = target
        return self.paths[kind]

    def private(self, kind: str) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.path(kind).read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def csr(self, kind: str, subject: str = "/CN=www.example.com", *extra: str) -> bytes:
        """A PEM CSR written by `openssl req`."""
        return openssl("req", "-new", "-key", str(self.path(kind)), "-subj", subject, *extra)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def p256_pem(keys: Keys) -> bytes:
    return keys.csr("p256", "/CN=www.example.com", "-addext", "subjectAltName=DNS:www.example.com")


@pytest.fixture(scope="module")
def rsa_pem(keys: Keys) -> bytes:
    return keys.csr("rsa2048")


def built_csr(
    keys: Keys,
    names: Sequence[x509.GeneralName] | None,
    subject: Sequence[x509.NameAttribute[str]] | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> bytes:
    """A DER CSR from cryptography's builder, signed with the module's P-256 key."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject or []))
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    csr = builder.sign(keys.private("p256"), hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


def cn(value: str) -> list[x509.NameAttribute[str]]:
    return [x509.NameAttribute(NameOID.COMMON_NAME, value)]


def pem(der: bytes, label: str = "CERTIFICATE REQUEST", eol: str = "\n") -> bytes:
    lines = [base64.b64encode(der[i : i + 48]).decode() for i in range(0, len(der), 48)]
    text = eol.join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])
    return text.encode()


def certificate_der(keys: Keys) -> bytes:
    key = keys.private("p256")
    name = x509.Name(cn("www.example.com"))
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


# --- key types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "algorithm", "bits", "curve"),
    [
        ("rsa2048", KeyAlgorithm.RSA, 2048, None),
        ("rsa3072", KeyAlgorithm.RSA, 3072, None),
        ("rsa4096", KeyAlgorithm.RSA, 4096, None),
        ("p256", KeyAlgorithm.EC, 256, "secp256r1"),
        ("p384", KeyAlgorithm.EC, 384, "secp384r1"),
        ("p521", KeyAlgorithm.EC, 521, "secp521r1"),
        ("secp256k1", KeyAlgorithm.EC, 256, "secp256k1"),
        ("brainpool", KeyAlgorithm.EC, 256, "brainpoolP256r1"),
        ("ed25519", KeyAlgorithm.ED25519, 256, None),
        ("ed448", KeyAlgorithm.ED448, 456, None),
        ("dsa", KeyAlgorithm.DSA, 2048, None),
    ],
)
def test_key_facts_per_key_type(
    keys: Keys, kind: str, algorithm: KeyAlgorithm, bits: int, curve: str | None
) -> None:
    verified = load_csr(keys.csr(kind))
    assert verified.key.algorithm is algorithm
    assert verified.key.bits == bits
    assert verified.key.curve == curve
    # the blocklist identity agrees with openssl's own SubjectPublicKeyInfo encoding
    spki = openssl("pkey", "-in", str(keys.path(kind)), "-pubout", "-outform", "DER")
    assert verified.key.spki_sha256 == hashlib.sha256(spki).hexdigest()
    assert verified.common_name == "www.example.com"


def test_rsa_facts_carry_modulus_and_exponent(keys: Keys, rsa_pem: bytes) -> None:
    verified = load_csr(rsa_pem)
    text = openssl("rsa", "-in", str(keys.path("rsa2048")), "-noout", "-modulus").decode()
    modulus = int(text.strip().split("=", 1)[1], 16)
    assert verified.key.rsa_modulus == modulus
    assert verified.key.rsa_exponent == 65537
    assert verified.key.rsa_modulus.bit_length() == 2048


@pytest.mark.parametrize("kind", ["explicit_p256", "rsa_pss"])
def test_key_types_outside_the_model_are_refused(keys: Keys, kind: str) -> None:
    with pytest.raises(PolicyRejected) as caught:
        load_csr(keys.csr(kind))
    assert caught.value.code == "key_type_not_allowed"
    assert caught.value.status == 422
    (violation,) = caught.value.violations or []
    assert set(violation) == {"rule", "code", "message", "subject"}
    assert violation["code"] == "key_type_not_allowed"
    assert caught.value.as_body()["error"]["violations"] == [violation]


# --- body forms ---------------------------------------------------------------------------------


def test_body_forms_all_give_the_same_der(keys: Keys, p256_pem: bytes) -> None:
    der = decode_csr_body(p256_pem)
    text_output = openssl("req", "-text", data=p256_pem)
    assert text_output.index(b"Certificate Request:") < text_output.index(b"-----BEGIN")
    forms = [
        p256_pem,
        p256_pem.replace(b"\n", b"\r\n"),
        p256_pem.replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"),
        b"Here is my CSR:\n\n" + p256_pem + b"\nthanks!\n",
        text_output,
        der,
        pem(der, eol="\r\n"),
    ]
    for form in forms:
        assert decode_csr_body(form) == der
    assert load_csr(text_output).sha256 == hashlib.sha256(der).hexdigest()


def test_new_certificate_request_header_from_openssl_csr_tool(keys: Keys, p256_pem: bytes) -> None:
    der = decode_csr_body(p256_pem)
    converted = openssl("req", "-outform", "DER", data=p256_pem)
    assert converted == der
    assert load_csr(pem(der, "NEW CERTIFICATE REQUEST")).der == der


MALFORMED_BODIES: dict[str, tuple[Callable[[bytes, bytes], bytes], str]] = {
    "empty": (lambda pem_, der: b"", "empty"),
    "whitespace": (lambda pem_, der: b" \r\n\t", "empty"),
    "random bytes": (lambda pem_, der: random.Random(7).randbytes(300), "neither"),
    "random bytes after a SEQUENCE tag": (
        lambda pem_, der: b"\x30" + random.Random(8).randbytes(300),
        "DER",
    ),
    "truncated DER": (lambda pem_, der: der[: len(der) // 2], "truncated"),
    "truncated PEM": (lambda pem_, der: pem_[: len(pem_) // 2], "END"),
    "trailing bytes after DER": (lambda pem_, der: der + b"\x00\x00", "trailing"),
    "PEM of DER with trailing bytes": (lambda pem_, der: pem(der + b"\x05\x00"), "trailing"),
    "PEM of truncated DER": (lambda pem_, der: pem(der[:-10]), "truncated"),
    "two CSRs": (lambda pem_, der: pem_ + pem_, "more than one"),
    "bad base64": (lambda pem_, der: pem_[:40] + b"!!" + pem_[42:], "base64"),
    "bad base64 padding": (
        lambda pem_, der: pem(der).replace(b"\n-----END", b"A\n-----END"),
        "base64",
    ),
    "empty PEM block": (
        lambda pem_, der: b"-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
        "empty",
    ),
    "labels differ": (
        lambda pem_, der: pem_.replace(b"END CERTIFICATE REQUEST", b"END NEW CERTIFICATE REQUEST"),
        "differ",
    ),
    "public key PEM": (lambda pem_, der: pem(der, "PUBLIC KEY"), "no CERTIFICATE REQUEST"),
    "private key PEM": (lambda pem_, der: pem(der, "PRIVATE KEY") + pem_, "private key"),
    "base64 without PEM armour": (lambda pem_, der: base64.b64encode(der), "neither"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_BODIES))
def test_malformed_bodies_are_refused(p256_pem: bytes, case: str) -> None:
    make, fragment = MALFORMED_BODIES[case]
    body = make(p256_pem, decode_csr_body(p256_pem))
    with pytest.raises(MalformedCsr) as caught:
        load_csr(body)
    assert caught.value.code == "malformed_csr"
    assert fragment.lower() in caught.value.message.lower()


@pytest.mark.parametrize("form", ["pem", "der", "x509 label"])
def test_a_certificate_is_not_a_csr(keys: Keys, form: str) -> None:
    der = certificate_der(keys)
    body = {"pem": pem(der, "CERTIFICATE"), "der": der, "x509 label": pem(der, "X509 CERTIFICATE")}
    with pytest.raises(MalformedCsr, match="this is a certificate, not a CSR"):
        load_csr(body[form])
    with pytest.raises(MalformedCsr, match="this is a certificate, not a CSR"):
        parse_csr(der)


# --- signatures ---------------------------------------------------------------------------------


def test_flipped_bit_in_rsa_signature(rsa_pem: bytes) -> None:
    der = decode_csr_body(rsa_pem)
    with pytest.raises(CsrSignatureInvalid) as caught:
        parse_csr(flip(der, len(der) - 5))
    assert caught.value.code == "csr_signature_invalid"


def test_flipped_bit_in_ecdsa_signature(p256_pem: bytes) -> None:
    der = decode_csr_body(p256_pem)
    with pytest.raises(CsrSignatureInvalid):
        parse_csr(flip(der, len(der) - 1))


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "ed25519"])
def test_flipped_bit_in_subject(keys: Keys, kind: str) -> None:
    der = decode_csr_body(keys.csr(kind, "/CN=www.example.com"))
    index = der.index(b"www.example.com")
    tampered = flip(der, index, 0x02)  # 'w' -> 'u': still a valid host name
    with pytest.raises(CsrSignatureInvalid):
        parse_csr(tampered)


@pytest.mark.parametrize(("key", "digest"), [("p256", "-sha1"), ("rsa2048", "-sha1"), ("rsa2048", "-md5")])
def test_weak_signature_hashes_are_refused(keys: Keys, key: str, digest: str) -> None:
    with pytest.raises(CsrSignatureInvalid, match="SHA-256 or better") as caught:
        load_csr(keys.csr(key, "/CN=www.example.com", digest))
    assert caught.value.code == "csr_signature_invalid"


def test_rsa_with_sha512_and_pss_signatures_verify(keys: Keys) -> None:
    assert load_csr(keys.csr("rsa2048", "/CN=a.example", "-sha512")).key.bits == 2048
    pss = keys.csr("rsa2048", "/CN=a.example", "-sigopt", "rsa_padding_mode:pss")
    assert load_csr(pss).csr.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"


# --- DER-level oddities (committed test data) ---------------------------------------------------

ODD_CSRS: dict[str, tuple[type[CertgateError], str, str]] = {
    "duplicate_extension.der": (MalformedCsr, "malformed_csr", "repeats the extension 2.5.29.17"),
    "two_extension_requests.der": (MalformedCsr, "malformed_csr", "more than one extensionRequest"),
    "duplicate_attribute.der": (MalformedCsr, "malformed_csr", "repeats the attribute"),
    "version_2.der": (MalformedCsr, "malformed_csr", "unsupported CSR version field 1"),
    "non_minimal_length.der": (MalformedCsr, "malformed_csr", "short form"),
    "indefinite_length.der": (MalformedCsr, "malformed_csr", "indefinite length"),
    "unsorted_attributes.der": (MalformedCsr, "malformed_csr", "sorted"),
    "critical_false_encoded.der": (MalformedCsr, "malformed_csr", "critical=FALSE"),
    "rsa_absent_params.der": (MalformedCsr, "malformed_csr", "must be NULL"),
    "ed25519_with_params.der": (MalformedCsr, "malformed_csr", "no algorithm parameters"),
    "ec_implicit_ca.der": (PolicyRejected, "key_type_not_allowed", "implicitCA"),
    "ec_unknown_named_curve.der": (PolicyRejected, "key_type_not_allowed", "not supported"),
    "x25519_key.der": (PolicyRejected, "key_type_not_allowed", "X25519"),
    "gost2012_key.der": (PolicyRejected, "key_type_not_allowed", "GOST"),
}


def test_every_committed_odd_csr_is_covered() -> None:
    assert {path.name for path in TESTDATA.glob("*.der")} == set(ODD_CSRS)


@pytest.mark.parametrize("filename", sorted(ODD_CSRS))
def test_odd_csrs(filename: str) -> None:
    error, code, fragment = ODD_CSRS[filename]
    der = (TESTDATA / filename).read_bytes()
    for body in (der, pem(der)):
        with pytest.raises(error) as caught:
            load_csr(body)
        assert caught.value.code == code
        assert fragment in caught.value.message


def test_strict_checks_run_on_parse_csr_directly() -> None:
    der = (TESTDATA / "non_minimal_length.der").read_bytes()
    with pytest.raises(MalformedCsr, match="not strict DER"):
        parse_csr(der)


# --- subject and names --------------------------------------------------------------------------


def test_two_common_names_are_malformed(keys: Keys) -> None:
    with pytest.raises(MalformedCsr, match="2 commonNames"):
        load_csr(keys.csr("p256", "/CN=a.example/CN=b.example"))
    multi_valued = keys.csr("p256", "/CN=a.example+CN=b.example", "-multivalue-rdn")
    with pytest.raises(MalformedCsr, match="2 commonNames"):
        load_csr(multi_valued)


def test_repeated_non_cn_subject_attributes_are_fine(keys: Keys) -> None:
    verified = load_csr(keys.csr("p256", "/DC=com/DC=example/OU=a/OU=b/CN=host.example.com"))
    assert verified.common_name == "host.example.com"


def test_challenge_password_and_other_attributes_are_allowed(keys: Keys, tmp_path: Path) -> None:
    config = tmp_path / "req.cnf"
    config.write_text(
        "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\nreq_extensions = ext\n"
        "[dn]\nCN = cp.example\n"
        "[attrs]\nchallengePassword = sekrit123\nunstructuredName = Some Name\n"
        "[ext]\nsubjectAltName = DNS:cp.example\n"
    )
    body = openssl("req", "-new", "-key", str(keys.path("p256")), "-config", str(config))
    verified = load_csr(body)
    assert len(verified.csr.attributes) == 3  # the two above and the extensionRequest
    assert verified.dns_names == ("cp.example",)


def test_hundred_sans(keys: Keys) -> None:
    names = [f"host{i}.example.com" for i in range(100)]
    verified = parse_csr(built_csr(keys, [x509.DNSName(n) for n in names]))
    assert verified.dns_names == tuple(names)
    assert verified.common_name is None


def test_ip_sans_v4_v6_and_mapped(keys: Keys) -> None:
    addresses = ["192.0.2.7", "2001:db8:0:0:0:0:0:1", "::ffff:10.0.0.5"]
    der = built_csr(keys, [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses])
    assert parse_csr(der).ip_addresses == ("192.0.2.7", "2001:db8::1", "::ffff:10.0.0.5")


def test_ip_sans_from_openssl(keys: Keys) -> None:
    body = keys.csr("p256", "/", "-addext", "subjectAltName=IP:203.0.113.9,IP:2001:DB8::5,DNS:a.example")
    verified = load_csr(body)
    assert verified.ip_addresses == ("203.0.113.9", "2001:db8::5")
    assert verified.dns_names == ("a.example",)


def test_empty_subject_with_san_is_valid(keys: Keys) -> None:
    verified = load_csr(keys.csr("p256", "/", "-addext", "subjectAltName=DNS:acme.example.org"))
    assert verified.common_name is None
    assert verified.csr.subject == x509.Name([])
    assert verified.dns_names == ("acme.example.org",)


def test_no_cn_and_no_san_names_nothing(keys: Keys) -> None:
    with pytest.raises(MalformedCsr, match="names nothing"):
        load_csr(keys.csr("p256", "/O=Example Org"))


def test_ca_true_request_parses(keys: Keys) -> None:
    body = keys.csr(
        "p256", "/CN=ca.example", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign",
    )
    verified = load_csr(body)
    constraints = verified.csr.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is True


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("WWW.Example.COM", "www.example.com"),
        ("*.example.com", "*.example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c0.example", "a-b.c0.example"),
        ("10.0.0.5", "10.0.0.5"),
        ("2001:DB8::1", "2001:DB8::1"),
        ("localhost", "localhost"),
        ("a." * 126 + "b", "a." * 126 + "b"),
    ],
)
def test_valid_dns_names(keys: Keys, sent: str, kept: str) -> None:
    assert parse_csr(built_csr(keys, [x509.DNSName(sent)])).dns_names == (kept,)


@pytest.mark.parametrize(
    "sent",
    [
        "foo_bar.example",
        "-a.example",
        "a-.example",
        "a..example",
        "example.com.",
        ".example.com",
        "*.*.example.com",
        "a*.example.com",
        "www.*.example.com",
        "*",
        "x" * 64 + ".example",
        "a." * 127 + "b",
        "xn--.example",
        "xn--abc-.example",  # decodes to ASCII: not an A-label
        "xn--abc.example",  # decodes to control characters
        "xn--zz.example",  # not Punycode
        "host name.example",
        "",
    ],
)
def test_invalid_dns_names_are_malformed(keys: Keys, sent: str) -> None:
    with pytest.raises(MalformedCsr) as caught:
        parse_csr(built_csr(keys, [x509.DNSName(sent)]))
    assert caught.value.code == "malformed_csr"


def test_repeated_names_are_kept_once(keys: Keys) -> None:
    names = [x509.DNSName("A.example"), x509.DNSName("a.example"), x509.DNSName("b.example")]
    assert parse_csr(built_csr(keys, names)).dns_names == ("a.example", "b.example")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        (x509.RFC822Name("someone@example.com"), "rfc822Name"),
        (x509.UniformResourceIdentifier("https://example.com/"), "uniformResourceIdentifier"),
        (x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x01a"), "otherName"),
        (x509.DirectoryName(x509.Name(cn("x"))), "directoryName"),
        (x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")), "registeredID"),
    ],
)
def test_unsupported_san_types(keys: Keys, name: x509.GeneralName, label: str) -> None:
    with pytest.raises(MalformedCsr, match=f"unsupported SAN type {label}"):
        parse_csr(built_csr(keys, [x509.DNSName("a.example"), name]))


@pytest.mark.parametrize("network", ["10.0.0.0/8", "2001:db8::/32"])
def test_ip_san_with_netmask_is_malformed(keys: Keys, network: str) -> None:
    der = built_csr(keys, [x509.IPAddress(ipaddress.ip_network(network))])
    with pytest.raises(MalformedCsr, match="netmask"):
        parse_csr(der)


def test_common_name_rules(keys: Keys) -> None:
    assert parse_csr(built_csr(keys, None, cn("WWW.Example.com"))).common_name == "www.example.com"
    assert parse_csr(built_csr(keys, None, cn("198.51.100.4"))).common_name == "198.51.100.4"
    with pytest.raises(MalformedCsr, match="not a host name or an IP address"):
        parse_csr(built_csr(keys, None, cn("My Web Server")))


def test_extension_values_that_do_not_decode_are_malformed(keys: Keys) -> None:
    broken = x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\x30\x03\x01\x01")
    with pytest.raises(MalformedCsr):
        parse_csr(built_csr(keys, [x509.DNSName("a.example")], extensions=[(broken, False)]))


# --- facts and the verified value ---------------------------------------------------------------


def test_request_facts(keys: Keys) -> None:
    der = built_csr(
        keys,
        [x509.DNSName("a.example"), x509.IPAddress(ipaddress.ip_address("192.0.2.1"))],
        cn("a.example"),
    )
    verified = parse_csr(der)
    facts = request_facts(verified, 30)
    assert facts == RequestFacts(
        key=verified.key,
        common_name="a.example",
        dns_names=("a.example",),
        ip_addresses=("192.0.2.1",),
        csr_sha256=hashlib.sha256(der).hexdigest(),
        requested_validity_days=30,
    )
    assert request_facts(verified, None).requested_validity_days is None


def test_verified_csr_is_frozen_and_keeps_the_exact_der(p256_pem: bytes) -> None:
    verified = load_csr(p256_pem)
    assert isinstance(verified, VerifiedCsr)
    assert verified.der == decode_csr_body(p256_pem)
    assert verified.public_key.public_numbers() == verified.csr.public_key().public_numbers()  # type: ignore[union-attr]
    with pytest.raises(AttributeError):
        verified.sha256 = "0" * 64  # type: ignore[misc]


# --- robustness ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_only_raise_service_errors(data: bytes) -> None:
    try:
        load_csr(data)
    except CertgateError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_mutated_csrs_only_raise_service_errors(p256_pem: bytes, index: int, mask: int) -> None:
    der = decode_csr_body(p256_pem)
    mutated = flip(der, index % len(der), mask)
    try:
        parse_csr(mutated)
    except CertgateError:
        return
    pytest.fail("a CSR with a changed byte was accepted")

