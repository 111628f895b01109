"""Relying-party views of revocation: CRLs fetched and checked by openssl, OCSP asked by `openssl ocsp`."""

from __future__ import annotations

import base64
import re
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509 import ocsp

from tests.e2e.pki_clients import CaFiles, http_get, openssl

if TYPE_CHECKING:
    from tests.e2e.conftest import LiveServer


@dataclass(frozen=True)
class FetchedCrl:
    """A CRL as served (DER), its PEM copy for `openssl verify -CRLfile`, and the parsed list."""

    der: Path
    pem: Path
    crl: x509.CertificateRevocationList

    @property
    def number(self) -> int:
        """The CRL number extension."""
        return self.crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def fetch_crl(server: LiveServer, files: CaFiles, workdir: Path, name: str = "crl", path: str = "/crl") -> FetchedCrl:
    """GET the CRL; openssl must verify its signature against the published chain."""
    status, ctype, body = http_get(server.url + path)
    assert status == 200 and ctype == "application/pkix-crl"
    der, pem = workdir / f"{name}.der", workdir / f"{name}.pem"
    der.write_bytes(body)
    checked = openssl("crl", "-inform", "DER", "-in", der, "-CAfile", files.chain, "-noout")
    assert "verify OK" in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    openssl("crl", "-inform", "DER", "-in", der, "-out", pem)
    return FetchedCrl(der, pem, x509.load_der_x509_crl(body))


@dataclass(frozen=True)
class OcspAnswer:
    """What `openssl ocsp` printed about one certificate, and the response it saved."""

    status: str  # good | revoked | unknown
    reason: str | None
    verified: bool  # "Response verify OK"
    output: str
    response: ocsp.OCSPResponse


def ask_ocsp(server: LiveServer, files: CaFiles, workdir: Path, *, cert: Path | None = None, serial: str | None = None,
             nonce: bool = True, extra: tuple[str, ...] = ()) -> OcspAnswer:
    """`openssl ocsp -issuer issuing.pem (-cert leaf.pem | -serial S) -url …/ocsp -CAfile root.pem`."""
    target: list[str | Path] = ["-cert", cert] if cert is not None else ["-serial", str(serial)]
    respout = workdir / f"ocsp-{len(list(workdir.glob('ocsp-*.der')))}.der"
    # openssl wants a CertID digest option (`extra`, e.g. -sha256) before -cert/-serial.
    done = openssl("ocsp", "-issuer", files.issuing, *extra, *target, "-url", server.url + "/ocsp", "-CAfile", files.root,
                   "-respout", respout, *([] if nonce else ["-no_nonce"]), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_ocsp_output(done, respout.read_bytes())


def parse_ocsp_output(done: subprocess.CompletedProcess[str], der: bytes) -> OcspAnswer:
    """Read `NAME: STATUS` and `Reason: R` from openssl's report; parse the DER with cryptography."""
    match = re.search(r"^\S+: (good|revoked|unknown)$", done.stdout, re.MULTILINE)
    assert match, done.stdout + done.stderr
    reason = re.search(r"^\s*Reason: (\S+)$", done.stdout, re.MULTILINE)
    return OcspAnswer(match.group(1), reason.group(1) if reason else None, "Response verify OK" in done.stderr,
                      done.stdout + done.stderr, ocsp.load_der_ocsp_response(der))


def ocsp_get(server: LiveServer, request_der: bytes, *, quote: bool = True) -> tuple[int, str, bytes]:
    """RFC 6960 A.1 GET: `/ocsp/{url-encoded base64 of the DER request}` (or the bare base64)."""
    text = base64.b64encode(request_der).decode()
    return http_get(f"{server.url}/ocsp/{urllib.parse.quote(text, safe='') if quote else text}")


def ocsp_post(server: LiveServer, body: bytes) -> tuple[int, str, bytes]:
    """POST any bytes to /ocsp as `application/ocsp-request`."""
    req = urllib.request.Request(server.url + "/ocsp", data=body, method="POST",
                                 headers={"Content-Type": "application/ocsp-request"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def openssl_ocsp_request(files: CaFiles, workdir: Path, cert: Path, *, nonce: bool = False) -> bytes:
    """The DER request `openssl ocsp -reqout` makes for `cert`."""
    out = workdir / f"{cert.stem}.ocsp-req.der"
    openssl("ocsp", "-issuer", files.issuing, "-cert", cert, "-reqout", out, *([] if nonce else ["-no_nonce"]))
    return out.read_bytes()


def check_response_file(files: CaFiles, workdir: Path, cert: Path, der: bytes) -> OcspAnswer:
    """Let `openssl ocsp -respin` verify and read a response fetched some other way (GET)."""
    respin = workdir / f"{cert.stem}.ocsp-resp-{len(der)}.der"
    respin.write_bytes(der)
    done = openssl("ocsp", "-respin", respin, "-issuer", files.issuing, "-cert", cert, "-CAfile", files.root, "-no_nonce",
                   check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_ocsp_output(done, der)
