"""OCSP answers checked by openssl via a real HTTP responder on 127.0.0.1, and by cryptography."""

from __future__ import annotations

import base64
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from revocation_pki import Pki, make_pki, openssl, pem, pkilint

from service.ca.crl import RevocationReason, SigningKey
from service.ca.ocsp import (
    CertStatusAnswer,
    CertStatusKind,
    MalformedOcspRequest,
    build_ocsp_response,
    decode_ocsp_get_path,
    malformed_response,
    parse_ocsp_request,
)
from service.ca.ocsp_responder import OcspResponseCache, create_ocsp_responder

VALIDITY = timedelta(hours=12)
LEAF_SERIAL = 0x5EED0001
NEVER_ISSUED = 0xDEADBEEF


@dataclass
class Responder:
    """The responder state the HTTP handler answers from: a fake status table, a real CA."""

    pki: Pki
    cert: x509.Certificate
    key: SigningKey
    cache: OcspResponseCache = field(default_factory=lambda: OcspResponseCache(timedelta(hours=1)))
    statuses: dict[int, CertStatusAnswer] = field(default_factory=dict)

    def status_of(self, serial: int) -> CertStatusAnswer:
        return self.statuses.get(serial, CertStatusAnswer.unknown())

    def answer(self, der: bytes) -> bytes:
        try:
            query = parse_ocsp_request(der)
        except MalformedOcspRequest:
            return malformed_response()
        return self.cache.respond(query, self.pki.issuing_cert, self.cert, self.key,
                                  self.status_of, datetime.now(UTC), VALIDITY)


def _handler(responder: Responder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._send(responder.answer(body) if self.path == "/ocsp" else None)

        def do_GET(self) -> None:  # noqa: N802
            if not self.path.startswith("/ocsp/"):
                return self._send(None)
            try:
                der = decode_ocsp_get_path(self.path.removeprefix("/ocsp/"))
            except MalformedOcspRequest:
                return self._send(malformed_response())
            self._send(responder.answer(der))

        def _send(self, body: bytes | None) -> None:
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@dataclass
class Site:
    responder: Responder
    url: str
    dir: Path
    leaf: x509.Certificate


@pytest.fixture(params=["p256", "rsa2048"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    now = datetime.now(UTC)
    pki = make_pki(request.param, now)
    cert, key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, now)
    responder = Responder(pki, cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(responder))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    leaf = pki.issue_leaf(LEAF_SERIAL, base_url, now)
    responder.statuses[LEAF_SERIAL] = CertStatusAnswer.good()
    pki.write(tmp_path)
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    try:
        yield Site(responder, f"{base_url}/ocsp", tmp_path, leaf)
    finally:
        server.shutdown()
        server.server_close()


def _ask(site: Site, *args: str) -> str:
    result = openssl("ocsp", "-issuer", "issuing.pem", "-url", site.url, "-CAfile", "root.pem",
                     *args, cwd=site.dir)
    return result.stdout + result.stderr


@pytest.mark.parametrize("nonce", [[], ["-no_nonce"]], ids=["nonce", "no_nonce"])
def test_openssl_sees_good_then_revoked_with_reason(site: Site, nonce: list[str]) -> None:
    out = _ask(site, "-cert", "leaf.pem", *nonce)
    assert "Response verify OK" in out
    assert "leaf.pem: good" in out
    assert ("WARNING" not in out) or nonce  # the default nonce is echoed, so no warning

    revoked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    site.responder.statuses[LEAF_SERIAL] = CertStatusAnswer.revoked(
        revoked_at, RevocationReason.KEY_COMPROMISE)
    out = _ask(site, "-cert", "leaf.pem", *nonce)
    assert "Response verify OK" in out
    assert "leaf.pem: revoked" in out
    assert "Reason: keyCompromise" in out
    assert f"Revocation Time: {revoked_at:%b} {revoked_at.day:2d} {revoked_at:%H:%M:%S %Y} GMT" \
        in out


def test_openssl_sees_unknown_for_a_serial_never_issued(site: Site) -> None:
    out = _ask(site, "-serial", f"0x{NEVER_ISSUED:x}")
    assert "Response verify OK" in out
    assert f"0x{NEVER_ISSUED:x}: unknown" in out


@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
def test_pkilint_finds_nothing_in_the_answers(site: Site, status: str) -> None:
    if status == "revoked":
        site.responder.statuses[LEAF_SERIAL] = CertStatusAnswer.revoked(
            datetime.now(UTC) - timedelta(hours=1), RevocationReason.CESSATION_OF_OPERATION)
    serial = NEVER_ISSUED if status == "unknown" else LEAF_SERIAL
    out = _ask(site, "-serial", str(serial), "-respout", "answer.der")
    assert f"{serial}: {status}" in out
    assert pkilint("lint_ocsp_response", "answer.der", cwd=site.dir) == ""


def test_openssl_with_a_sha256_certid(site: Site) -> None:
    out = _ask(site, "-sha256", "-cert", "leaf.pem")
    assert "Response verify OK" in out and "leaf.pem: good" in out


def test_another_issuer_is_unauthorized(site: Site) -> None:
    other = make_pki("p256", datetime.now(UTC), name="someone else")
    (site.dir / "other.pem").write_bytes(pem(other.issuing_cert))
    result = openssl("ocsp", "-issuer", "other.pem", "-serial", str(LEAF_SERIAL), "-url",
                     site.url, "-CAfile", "root.pem", cwd=site.dir)
    assert "Responder Error: unauthorized (6)" in result.stdout + result.stderr


def test_get_form_answers_like_post(site: Site) -> None:
    request = ocsp.OCSPRequestBuilder().add_certificate(
        site.leaf, site.responder.pki.issuing_cert, hashes.SHA1()).build()
    der_request = request.public_bytes(serialization.Encoding.DER)
    for encoded in (
        urllib.parse.quote(base64.b64encode(der_request).decode(), safe=""),
        base64.urlsafe_b64encode(der_request).decode().rstrip("="),
    ):
        with urllib.request.urlopen(f"{site.url}/{encoded}", timeout=10) as reply:
            response = ocsp.load_der_ocsp_response(reply.read())
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert response.serial_number == LEAF_SERIAL

    (site.dir / "req.der").write_bytes(der_request)
    (site.dir / "resp.der").write_bytes(reply_bytes := _get(site, der_request))
    assert ocsp.load_der_ocsp_response(reply_bytes).serial_number == LEAF_SERIAL
    result = openssl("ocsp", "-respin", "resp.der", "-reqin", "req.der", "-issuer", "issuing.pem",
                     "-cert", "leaf.pem", "-CAfile", "root.pem", "-no_nonce", cwd=site.dir)
    assert "Response verify OK" in result.stdout + result.stderr


def _get(site: Site, der_request: bytes) -> bytes:
    encoded = urllib.parse.quote(base64.b64encode(der_request).decode(), safe="")
    with urllib.request.urlopen(f"{site.url}/{encoded}", timeout=10) as reply:
        body: bytes = reply.read()
    return body


@pytest.mark.parametrize("body", [b"", b"\x30\x03\x02\x01\x01", b"not ocsp at all" * 10])
def test_malformed_post_gets_malformed_request(site: Site, body: bytes) -> None:
    post = urllib.request.Request(site.url, data=body, method="POST",
                                  headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(post, timeout=10) as reply:
        response = ocsp.load_der_ocsp_response(reply.read())
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert response.response_status.value == 1


def test_malformed_get_gets_malformed_request(site: Site) -> None:
    with urllib.request.urlopen(f"{site.url}/%%%not-base64!!", timeout=10) as reply:
        response = ocsp.load_der_ocsp_response(reply.read())
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_multi_certid_request_is_answered_for_its_first(site: Site) -> None:
    site.responder.statuses[7] = CertStatusAnswer.revoked(
        datetime(2026, 1, 1, tzinfo=UTC), RevocationReason.SUPERSEDED)
    openssl("ocsp", "-issuer", "issuing.pem", "-serial", "7", "-serial", str(LEAF_SERIAL),
            "-reqout", "multi.der", cwd=site.dir)
    query = parse_ocsp_request((site.dir / "multi.der").read_bytes())
    assert query.serials == (7, LEAF_SERIAL)
    assert query.nonce is not None and len(query.nonce) == 16

    out = _ask(site, "-serial", "7", "-serial", str(LEAF_SERIAL))
    assert "Response verify OK" in out
    assert "7: revoked" in out and "Reason: superseded" in out
    assert f"{LEAF_SERIAL}: ERROR: No Status found" in out


# --- build_ocsp_response and parse_ocsp_request without HTTP ---------------------------------


@pytest.fixture(scope="module")
def ca() -> tuple[Pki, x509.Certificate, SigningKey]:
    now = datetime.now(UTC)
    pki = make_pki("p256", now)
    cert, key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, now)
    return pki, cert, key


def _request(pki: Pki, serial: int, nonce: bytes | None = None,
             algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_hashes(pki.issuing_cert, algorithm or hashes.SHA1()), serial, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    # an independent computation of the CertID hashes: through a throwaway request
    dummy = x509.load_der_x509_certificate(issuer.public_bytes(serialization.Encoding.DER))
    request = ocsp.OCSPRequestBuilder().add_certificate(dummy, dummy, algorithm).build()
    key_hash = request.issuer_key_hash
    name = hashes.Hash(algorithm)
    name.update(issuer.subject.public_bytes())
    return name.finalize(), key_hash


def test_response_fields(ca: tuple[Pki, x509.Certificate, SigningKey]) -> None:
    pki, cert, key = ca
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    nonce = bytes(range(32))
    query = parse_ocsp_request(_request(pki, 99, nonce, hashes.SHA256()))
    der = build_ocsp_response(query, pki.issuing_cert, cert, key,
                              lambda serial: CertStatusAnswer.good(), now, VALIDITY)
    response = ocsp.load_der_ocsp_response(der)

    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.serial_number == 99
    assert isinstance(response.hash_algorithm, hashes.SHA256)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.this_update_utc == now and response.next_update_utc == now + VALIDITY
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert response.responder_name is None
    assert response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        cert.public_key()).digest
    assert response.certificates == [cert]
    assert isinstance(response.signature_hash_algorithm, hashes.SHA256)
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


def test_unspecified_revocation_carries_no_reason(
    ca: tuple[Pki, x509.Certificate, SigningKey],
) -> None:
    pki, cert, key = ca
    revoked_at = datetime(2026, 2, 1, tzinfo=UTC)
    der = build_ocsp_response(
        parse_ocsp_request(_request(pki, 5)), pki.issuing_cert, cert, key,
        lambda serial: CertStatusAnswer.revoked(revoked_at, RevocationReason.UNSPECIFIED),
        datetime(2026, 3, 1, tzinfo=UTC), VALIDITY)
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at
    assert response.revocation_reason is None
    assert len(response.extensions) == 0  # no nonce asked, none sent


def test_signed_by_the_issuer_itself_sends_no_certificates(
    ca: tuple[Pki, x509.Certificate, SigningKey],
) -> None:
    pki, _, _ = ca
    der = build_ocsp_response(
        parse_ocsp_request(_request(pki, 5)), pki.issuing_cert, pki.issuing_cert,
        pki.issuing_key, lambda serial: CertStatusAnswer.good(), datetime.now(UTC), VALIDITY)
    assert ocsp.load_der_ocsp_response(der).certificates == []


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda der: b"", "empty"),
        (lambda der: der + b"\x00", "not an OCSP request"),
        (lambda der: der[:-3], "not an OCSP request"),
        (lambda der: b"\x30" + b"\x82\x40\x00" + b"\x00" * 0x4000, "too large"),
        # SHA-256's OID ends in 01; SHA3-256's in 08: same length, a hash we do not echo
        (lambda der: der.replace(bytes.fromhex("0609608648016503040201"),
                                 bytes.fromhex("0609608648016503040208")), "SHA-1 or SHA-2"),
    ],
)
def test_parse_refuses(
    ca: tuple[Pki, x509.Certificate, SigningKey], mangle: object, message: str,
) -> None:
    pki, _, _ = ca
    der = _request(pki, 1, b"n" * 16, hashes.SHA256())
    with pytest.raises(MalformedOcspRequest, match=message):
        parse_ocsp_request(mangle(der))  # type: ignore[operator]


def test_nonce_lengths(ca: tuple[Pki, x509.Certificate, SigningKey]) -> None:
    pki, _, _ = ca
    assert parse_ocsp_request(_request(pki, 1, b"x")).nonce == b"x"
    assert parse_ocsp_request(_request(pki, 1, b"x" * 32)).nonce == b"x" * 32
    assert parse_ocsp_request(_request(pki, 1, b"x" * 33)).nonce is None  # RFC 8954 §2.1
    with pytest.raises(MalformedOcspRequest, match="empty nonce"):
        parse_ocsp_request(_request(pki, 1, b""))


def test_decode_get_path() -> None:
    raw = bytes(range(250, 256)) + b"\x30\x00\xfb\xff"
    standard = base64.b64encode(raw).decode()
    assert "+" in standard or "/" in standard
    for form in (
        standard,
        urllib.parse.quote(standard, safe=""),
        base64.urlsafe_b64encode(raw).decode(),
        standard.rstrip("="),
        "/" + standard,
    ):
        assert decode_ocsp_get_path(form) == raw, form
    for bad in ("@@@@", "abc!", "a" * 20000):
        with pytest.raises(MalformedOcspRequest):
            decode_ocsp_get_path(bad)


def test_status_answer_shapes() -> None:
    with pytest.raises(ValueError):
        CertStatusAnswer(CertStatusKind.REVOKED)
    with pytest.raises(ValueError):
        CertStatusAnswer(CertStatusKind.GOOD, datetime.now(UTC), RevocationReason.SUPERSEDED)
    assert CertStatusAnswer.unknown() == CertStatusAnswer(CertStatusKind.UNKNOWN)


def test_multi_certid_requests_are_checked_like_single_ones(tmp_path: Path) -> None:
    pki = make_pki("p256", datetime.now(UTC))
    pki.write(tmp_path)
    openssl("ocsp", "-issuer", "issuing.pem", "-serial", "1", "-serial", "2", "-no_nonce",
            "-reqout", "multi.der", cwd=tmp_path)
    der = (tmp_path / "multi.der").read_bytes()
    assert parse_ocsp_request(der).nonce is None
    with pytest.raises(MalformedOcspRequest, match="not an OCSP request"):
        parse_ocsp_request(der + b"\x00")
    with pytest.raises(MalformedOcspRequest, match="not an OCSP request"):
        parse_ocsp_request(der[:-1])
    sha1_oid = bytes.fromhex("06052b0e03021a")
    md5_like = bytes.fromhex("06052b0e03021d")  # 1.3.14.3.2.29, sha1WithRSA: no CertID hash
    with pytest.raises(MalformedOcspRequest, match="SHA-1 or SHA-2"):
        parse_ocsp_request(der.replace(sha1_oid, md5_like))
