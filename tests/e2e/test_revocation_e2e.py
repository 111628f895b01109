"""Revocation through the real server, checked by real clients: openssl's CRL and OCSP tools."""

from __future__ import annotations

import base64
import itertools
import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from tests.e2e.conftest import LiveServer
from tests.e2e.pki_clients import CaFiles, Issued, KeyShop, http_get, issue, openssl, submit
from tests.e2e.revocation_clients import (FetchedCrl, ask_ocsp, check_response_file, fetch_crl, ocsp_get, ocsp_post,
                                          openssl_ocsp_request)

pytestmark = pytest.mark.e2e


def crl_verify(files: CaFiles, crl: Path, leaf: Path) -> tuple[bool, str]:
    """`openssl verify -crl_check -CRLfile crl.pem -CAfile chain.pem leaf.pem`."""
    done = openssl("verify", "-crl_check", "-CRLfile", crl, "-CAfile", files.chain, leaf, check=False)
    return done.returncode == 0, done.stdout + done.stderr


def test_crl_is_signed_by_the_issuing_ca(live_server: LiveServer, ca_files: CaFiles, tmp_path: Path) -> None:
    fetched = fetch_crl(live_server, ca_files, tmp_path)
    issuing = ca_files.issuing_cert()
    assert fetched.crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    assert fetched.crl.issuer == issuing.subject
    assert fetched.crl.next_update_utc is not None and fetched.crl.next_update_utc > fetched.crl.last_update_utc
    aki = fetched.crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert fetched.number >= 1
    root_crl = fetch_crl(live_server, ca_files, tmp_path, "root-crl", "/crl/root")
    assert root_crl.crl.issuer == issuing.issuer and len(root_crl.crl) == 0




def revoke(server: LiveServer, serial: str, reason: str = "keyCompromise") -> dict[str, object]:
    status, body = server.call("POST", f"/api/v1/certificates/{serial}/revoke", token=server.tokens["admin"], body={"reason": reason})
    assert status == 200, body
    return body  # type: ignore[return-value]


@pytest.fixture(scope="module")
def revoked_pair(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[Issued, Issued, FetchedCrl]:
    """Two fresh leaves, the CRL from before one of them was revoked for keyCompromise."""
    workdir = tmp_path_factory.mktemp("revocation")
    token = live_server.tokens["requester"]
    good = issue(live_server, key_shop.csr("p256", subj="/CN=good.example.com"), token=token)
    bad = issue(live_server, key_shop.fresh_csr("p256", subj="/CN=compromised.example.com")[1], token=token)
    before = fetch_crl(live_server, ca_files, workdir, "before")
    assert before.crl.get_revoked_certificate_by_serial_number(bad.cert.serial_number) is None
    answer = revoke(live_server, bad.serial)
    assert answer["serial_number"] == bad.serial and answer["status"] == "revoked", answer
    assert answer["revocation_reason"] == "keyCompromise"
    return good, bad, before


def test_new_crl_lists_the_revoked_serial_with_its_reason(live_server: LiveServer, ca_files: CaFiles, tmp_path: Path,
                                                          revoked_pair: tuple[Issued, Issued, FetchedCrl]) -> None:
    good, bad, before = revoked_pair
    # Two gunicorn workers each cache the CRL: fetch a few times so both are asked.
    crls = [fetch_crl(live_server, ca_files, tmp_path, f"after-{i}") for i in range(4)]
    for fetched in crls:
        assert fetched.number > before.number
        entry = fetched.crl.get_revoked_certificate_by_serial_number(bad.cert.serial_number)
        assert entry is not None
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
        assert fetched.crl.get_revoked_certificate_by_serial_number(good.cert.serial_number) is None
    text = openssl("crl", "-inform", "DER", "-in", crls[0].der, "-noout", "-text").stdout
    serial = bad.cert.serial_number
    serial_line = f"Serial Number: {serial.to_bytes((serial.bit_length() + 7) // 8).hex().upper()}"  # whole octets
    assert serial_line in text, text
    entry_text = text.split(serial_line, 1)[1].split("Serial Number:", 1)[0]
    assert "X509v3 CRL Reason Code:" in entry_text and "Key Compromise" in entry_text, entry_text
    assert re.search(rf"X509v3 CRL Number:\s*\n\s*{crls[0].number}\n", text), text

    ok, out = crl_verify(ca_files, crls[0].pem, bad.path)
    assert not ok and "certificate revoked" in out, out
    ok, out = crl_verify(ca_files, crls[0].pem, good.path)
    assert ok, out


def test_a_key_revoked_as_compromised_is_refused_afterwards(live_server: LiveServer, tmp_path: Path,
                                                            revoked_pair: tuple[Issued, Issued, FetchedCrl]) -> None:
    _, bad, _ = revoked_pair
    key = bad.path.parent / "p256.key"  # the fresh key that `bad` was issued for
    csr = tmp_path / "again.csr"
    openssl("req", "-new", "-key", key, "-subj", "/CN=compromised-again.example.com", "-out", csr)
    status, answer = submit(live_server, csr, token=live_server.tokens["requester2"])
    assert status == 422, answer


def test_inventory_shows_the_revocation(live_server: LiveServer, revoked_pair: tuple[Issued, Issued, FetchedCrl]) -> None:
    _, bad, _ = revoked_pair
    status, body = live_server.call("GET", f"/api/v1/certificates/{bad.serial}", token=live_server.tokens["auditor"])
    assert status == 200 and body["status"] == "revoked", body  # type: ignore[index]
    status, page = live_server.call("GET", "/api/v1/certificates?status=revoked&per_page=500", token=live_server.tokens["auditor"])
    assert status == 200 and bad.serial in [c["serial_number"] for c in page["items"]]  # type: ignore[index]


def test_ocsp_good_then_revoked_with_reason(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop, tmp_path: Path) -> None:
    token = live_server.tokens["requester"]
    leaf = issue(live_server, key_shop.fresh_csr("p384", subj="/CN=ocsp-revoked.example.com")[1], token=token)
    other = issue(live_server, key_shop.csr("p256", subj="/CN=ocsp-good.example.com"), token=token)
    # Ask without a nonce twice so a worker's cached answer must be invalidated by the revocation.
    for nonce in (True, False, False):
        answer = ask_ocsp(live_server, ca_files, tmp_path, cert=leaf.path, nonce=nonce)
        assert answer.status == "good" and answer.verified, answer.output
    for digest in ("-sha1", "-sha256"):  # CertIDs hashed either way
        answer = ask_ocsp(live_server, ca_files, tmp_path, cert=leaf.path, extra=(digest,))
        assert answer.status == "good" and answer.verified, answer.output

    revoke(live_server, leaf.serial)
    for nonce in (True, False, False, False):
        answer = ask_ocsp(live_server, ca_files, tmp_path, cert=leaf.path, nonce=nonce)
        assert answer.status == "revoked" and answer.reason == "keyCompromise" and answer.verified, answer.output
        single = answer.response
        assert single.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert single.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert single.revocation_reason is x509.ReasonFlags.key_compromise
        assert single.serial_number == leaf.cert.serial_number
    entry = fetch_crl(live_server, ca_files, tmp_path).crl.get_revoked_certificate_by_serial_number(leaf.cert.serial_number)
    assert entry is not None and answer.response.revocation_time_utc == entry.revocation_date_utc
    still_good = ask_ocsp(live_server, ca_files, tmp_path, cert=other.path)
    assert still_good.status == "good" and still_good.verified, still_good.output

    # RFC 6960 A.1 GET, URL-encoded and bare, gives the same answers.
    for cert, expected in ((other, "good"), (leaf, "revoked")):
        request = openssl_ocsp_request(ca_files, tmp_path, cert.path)
        for quote in (True, False):
            status, ctype, body = ocsp_get(live_server, request, quote=quote)
            assert status == 200 and ctype == "application/ocsp-response"
            answer = check_response_file(ca_files, tmp_path, cert.path, body)
            assert answer.status == expected and answer.verified, answer.output
            assert answer.reason == ("keyCompromise" if expected == "revoked" else None)


def test_unknown_serial_is_unknown(live_server: LiveServer, ca_files: CaFiles, tmp_path: Path) -> None:
    answer = ask_ocsp(live_server, ca_files, tmp_path, serial="0x1234")
    assert answer.status == "unknown" and answer.verified, answer.output
    assert answer.response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN and answer.response.serial_number == 0x1234


def request_for(issuing: x509.Certificate, serial: int, algorithm: hashes.HashAlgorithm = hashes.SHA1()) -> bytes:
    """An OCSP request about `serial` under the issuing CA, its CertID hashed as RFC 6960 4.1.1 says."""
    name_hash = hashes.Hash(algorithm)
    name_hash.update(issuing.subject.public_bytes())
    # A CertID is (issuer name hash, issuer key hash): any certificate that `issuing` signed yields both.
    probe = ocsp.OCSPRequestBuilder().add_certificate(_signed_by(issuing), issuing, algorithm).build()
    assert probe.issuer_name_hash == name_hash.finalize()
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(probe.issuer_name_hash, probe.issuer_key_hash, serial,
                                                                algorithm).build()
    return request.public_bytes(Encoding.DER)


def _signed_by(issuing: x509.Certificate) -> x509.Certificate:
    """A throwaway certificate naming `issuing` as its issuer (the signature does not matter for a CertID)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(issuing.subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))


def test_ocsp_get_survives_slashes_in_the_base64(live_server: LiveServer, ca_files: CaFiles) -> None:
    """Base64 has '/', and '//' turns up in about one request in forty: GET must read the same request as POST."""
    issuing = ca_files.issuing_cert()
    for serial in itertools.count(0x1000):
        request = request_for(issuing, serial)
        if "//" in base64.b64encode(request).decode():
            break
    status, _, posted = ocsp_post(live_server, request)
    assert status == 200
    by_post = ocsp.load_der_ocsp_response(posted).response_status
    assert by_post is not ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    for quote in (True, False):
        status, _, body = ocsp_get(live_server, request, quote=quote)
        assert status == 200
        assert ocsp.load_der_ocsp_response(body).response_status is by_post, quote


GARBAGE = [b"", b"hello", b"\x30\x03\x02\x01\x01", b"\x30\x82\xff\xff" + b"\x00" * 64, b"<html>" * 2000, b"\x00" * 9000]


@pytest.mark.parametrize("body", GARBAGE, ids=["empty", "text", "der-not-ocsp", "truncated-der", "html", "too-big"])
def test_garbage_gets_malformed_request_never_500(live_server: LiveServer, body: bytes) -> None:
    status, ctype, answer = ocsp_post(live_server, body)
    assert status == 200 and ctype == "application/ocsp-response", (status, answer[:200])
    assert ocsp.load_der_ocsp_response(answer).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("path", ["not-base64!", urllib.parse.quote(base64.b64encode(b"hello").decode(), safe=""), "AAAA"])
def test_garbage_get_gets_malformed_request(live_server: LiveServer, path: str) -> None:
    status, ctype, answer = http_get(f"{live_server.url}/ocsp/{path}")
    assert status == 200 and ctype == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(answer).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_unknown_certid_hash_gets_an_ocsp_answer_not_a_500(live_server: LiveServer, ca_files: CaFiles) -> None:
    sha1 = bytes.fromhex("06052b0e03021a")  # the OID 1.3.14.3.2.26 ...
    request = request_for(ca_files.issuing_cert(), 0x1234)
    assert request.count(sha1) == 1
    odd = request.replace(sha1, bytes.fromhex("06052b0e03021b"))  # ... made 1.3.14.3.2.27, same length
    status, ctype, body = ocsp_post(live_server, odd)
    assert status == 200 and ctype == "application/ocsp-response", (status, body[:200])
    assert ocsp.load_der_ocsp_response(body).response_status in (ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
                                                                 ocsp.OCSPResponseStatus.UNAUTHORIZED)


def test_request_about_another_issuer_is_unauthorized(live_server: LiveServer, ca_files: CaFiles, tmp_path: Path) -> None:
    """The responder speaks for the issuing CA only: a CertID naming the root gets `unauthorized`."""
    out = tmp_path / "root-req.der"
    issuing = ca_files.issuing_cert()
    openssl("ocsp", "-issuer", ca_files.root, "-serial", str(issuing.serial_number), "-reqout", out, "-no_nonce")
    status, _, answer = ocsp_post(live_server, out.read_bytes())
    assert status == 200
    assert ocsp.load_der_ocsp_response(answer).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_revoke_errors(live_server: LiveServer, key_shop: KeyShop, revoked_pair: tuple[Issued, Issued, FetchedCrl]) -> None:
    _, bad, _ = revoked_pair
    admin = live_server.tokens["admin"]
    again = live_server.call("POST", f"/api/v1/certificates/{bad.serial}/revoke", token=admin, body={"reason": "keyCompromise"})
    assert again[0] == 409 and again[1]["error"]["code"] == "conflict"  # type: ignore[index]
    missing = live_server.call("POST", "/api/v1/certificates/1234abcd/revoke", token=admin, body={"reason": "keyCompromise"})
    assert missing[0] == 404 and missing[1]["error"]["code"] == "not_found"  # type: ignore[index]
    fresh = issue(live_server, key_shop.csr("p384", subj="/CN=keep.example.com"), token=live_server.tokens["requester"])
    hold = live_server.call("POST", f"/api/v1/certificates/{fresh.serial}/revoke", token=admin, body={"reason": "certificateHold"})
    assert hold[0] == 400
    for who in ("auditor", "approver", "requester2"):
        refused = live_server.call("POST", f"/api/v1/certificates/{fresh.serial}/revoke", token=live_server.tokens[who],
                                   body={"reason": "keyCompromise"})
        assert refused[0] == 403, (who, refused)
    listed = live_server.call("GET", f"/api/v1/certificates/{fresh.serial}", token=live_server.tokens["auditor"])
    assert listed[0] == 200 and listed[1]["status"] != "revoked"  # type: ignore[index]
