"""Real PKI clients for the e2e tests: `openssl` subprocesses, CSR submission, the CA's files."""

from __future__ import annotations

import subprocess
import threading
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509

from tests.factories import KEY_TYPES, openssl_key_and_csr

if TYPE_CHECKING:
    from tests.e2e.conftest import LiveServer

Form = Literal["pem", "der", "json"]


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the `openssl` CLI; with `check`, a non-zero exit fails the test with its output."""
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def http_get(url: str) -> tuple[int, str, bytes]:
    """A plain GET (status, content type, body), as a relying party fetching a CRL or CA file."""
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


@dataclass(frozen=True)
class CaFiles:
    """certgate's CA certificates as a relying party keeps them."""

    root: Path
    issuing: Path
    chain: Path  # issuing CA then root, as `GET /ca.pem` serves it

    @classmethod
    def of(cls, server: LiveServer) -> CaFiles:
        """The files in the server's data dir; `chain` is what the server publishes at /ca.pem."""
        ca = server.data_dir / "ca"
        chain = server.data_dir.parent / "ca-chain.pem"
        if not chain.exists():
            status, _, body = http_get(server.url + "/ca.pem")
            assert status == 200
            chain.write_bytes(body)
        return cls(ca / "root.pem", ca / "issuing.pem", chain)

    def issuing_cert(self) -> x509.Certificate:
        """The issuing CA certificate, parsed."""
        return x509.load_pem_x509_certificate(self.issuing.read_bytes())


class KeyShop:
    """One openssl key per type for the whole session (RSA 4096 is made once), and CSRs from them.

    All six keys are generated in parallel as soon as the shop opens.
    """

    def __init__(self, workdir: Path) -> None:
        self._dir = workdir
        self._pool = ThreadPoolExecutor(max_workers=3)
        self._keys: dict[str, Future[tuple[Path, Path]]] = {
            kind: self._pool.submit(openssl_key_and_csr, workdir, kind) for kind in KEY_TYPES}
        self._count = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the generator threads."""
        self._pool.shutdown(wait=True)

    def key(self, kind: str) -> Path:
        """The PEM private key of `kind` (an `openssl req -newkey` key)."""
        return self._keys[kind].result()[0]

    def csr(self, kind: str, *, subj: str = "/CN=www.example.com", san: str | None = None,
            addext: tuple[str, ...] = ()) -> Path:
        """A fresh CSR made by `openssl req -new` over the session's key of `kind`."""
        with self._lock:
            self._count += 1
            path = self._dir / f"{kind}-{self._count}.csr"
        cmd: list[str | Path] = ["req", "-new", "-key", self.key(kind), "-subj", subj, "-out", path]
        if san:
            cmd += ["-addext", f"subjectAltName={san}"]
        for ext in addext:
            cmd += ["-addext", ext]
        openssl(*cmd)
        return path


    def fresh_csr(self, kind: str, *, subj: str = "/CN=www.example.com", san: str | None = None) -> tuple[Path, Path]:
        """A new key and CSR (for certificates revoked as keyCompromise: that key is burnt)."""
        with self._lock:
            self._count += 1
            workdir = self._dir / f"fresh-{self._count}"
        workdir.mkdir()
        return openssl_key_and_csr(workdir, kind, subj=subj, san=san)


def submit(server: LiveServer, csr: Path, *, token: str, form: Form = "json", client_auth: bool | None = None,
           **fields: Any) -> tuple[int, Any]:
    """POST a CSR file as raw PEM, raw DER (`application/pkcs10`) or the JSON wrapper."""
    if form == "json":
        body: dict[str, Any] = {"csr": csr.read_text(), **fields}
        if client_auth is not None:
            body["client_auth"] = client_auth
        return server.call("POST", "/api/v1/requests", token=token, body=body)
    assert client_auth is None and not fields, "the raw form carries nothing but the CSR"
    data = csr.read_bytes()
    if form == "der":
        data = _der(csr)
    return server.call("POST", "/api/v1/requests", token=token, data=data, content_type="application/pkcs10")


def _der(csr: Path) -> bytes:
    done = subprocess.run(["openssl", "req", "-in", str(csr), "-outform", "DER"], capture_output=True, check=True, timeout=60)
    return done.stdout


@dataclass(frozen=True)
class Issued:
    """An issued leaf: its serial (hex), its PEM file, the parsed certificate and the API answer."""

    serial: str
    path: Path
    cert: x509.Certificate
    answer: dict[str, Any]


def issue(server: LiveServer, csr: Path, *, token: str, form: Form = "json", client_auth: bool | None = None) -> Issued:
    """Submit and insist on `201 issued`; the leaf is written next to the CSR."""
    status, answer = submit(server, csr, token=token, form=form, client_auth=client_auth)
    assert status == 201, answer
    return issued_from(answer, csr.with_suffix(".leaf.pem"))


def issued_from(answer: dict[str, Any], path: Path) -> Issued:
    """The certificate in a request answer, written to `path`."""
    assert answer["status"] == "issued", answer
    pem = answer["certificate"]["pem"]
    path.write_text(pem)
    cert = x509.load_pem_x509_certificate(pem.encode())
    serial = answer["certificate"]["serial_number"]
    assert serial == format(cert.serial_number, "x")
    return Issued(serial, path, cert, answer)


def verify(files: CaFiles, leaf: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    """`openssl verify` of `leaf` against certgate's root, with the issuing CA as untrusted."""
    return openssl("verify", "-CAfile", files.root, "-untrusted", files.issuing, *extra, leaf, check=False)
