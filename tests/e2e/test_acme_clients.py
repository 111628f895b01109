"""Real ACME clients (certbot from PyPI, lego from Debian) against a real `certgate serve --tls`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import LiveServer, free_port, start_server, stop_server

pytestmark = pytest.mark.e2e
POSTGRES_URL = os.environ.get("CERTGATE_TEST_POSTGRES_URL")
NAME, OWNED_IP, UNOWNED_IP, REJECTED_IP = "acme.example.com", "1.2.3.4", "1.2.4.8", "1.2.4.9"
CERTBOT = str(Path(sys.executable).with_name("certbot"))


@dataclass
class AcmeLab:
    """A server with ACME validation pointed at 127.0.0.1:`port`, and where the clients keep their state."""

    server: LiveServer
    port: int
    home: Path
    tls_port: int

    @property
    def directory(self) -> str:
        """The ACME directory URL."""
        return self.server.url + "/acme/directory"

    def eab(self, requester: str) -> tuple[str, str]:
        """`certgate acme eab create`: (kid, hmac key) from its last line."""
        kid, hmac_key = self.server.cli("acme", "eab", "create", "--requester", requester).stdout.strip().splitlines()[-1].split()
        return kid, hmac_key

    def certbot_args(self, *args: str, config: str = "certbot") -> list[str]:
        """A certbot command line with this lab's server, port and state directories."""
        state = self.home / config
        return [CERTBOT, *args, "--non-interactive", "--agree-tos", "--no-eff-email", "--register-unsafely-without-email",
                "--server", self.directory, "--config-dir", str(state / "config"), "--work-dir", str(state / "work"),
                "--logs-dir", str(state / "logs"), "--no-random-sleep-on-renew"]

    def env(self) -> dict[str, str]:
        """The clients trust certgate's root for the HTTPS to the ACME server."""
        root = str(self.server.data_dir / "ca" / "root.pem")
        return {**os.environ, "REQUESTS_CA_BUNDLE": root, "LEGO_CA_CERTIFICATES": root}

    def certbot(self, *args: str, config: str = "certbot") -> subprocess.CompletedProcess[str]:
        """Run certbot to the end."""
        return subprocess.run(self.certbot_args(*args, config=config), env=self.env(), text=True, capture_output=True,
                              timeout=180)

    def certonly(self, *names: str, cert_name: str, eab: tuple[str, str] | None = None, config: str = "certbot") -> list[str]:
        """certbot certonly --standalone for `names` (IPs through --ip-address)."""
        args = ["certonly", "--standalone", "--http-01-port", str(self.port), "--cert-name", cert_name]
        for name in names:
            args += ["--ip-address", name] if name[0].isdigit() else ["-d", name]
        if eab:
            args += ["--eab-kid", eab[0], "--eab-hmac-key", eab[1]]
        return self.certbot_args(*args, config=config)

    def live(self, cert_name: str, part: str, config: str = "certbot") -> Path:
        """A file certbot keeps for `cert_name`."""
        return self.home / config / "config" / "live" / cert_name / part

    def pending_exception(self, timeout: float = 60) -> str:
        """Wait for the one pending exception; its id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.server.call("GET", "/api/v1/exceptions?status=pending", token=self.server.tokens["approver"])
            assert status == 200, body
            items = body["items"]  # type: ignore[index]
            if items:
                return str(items[0]["id"])
            time.sleep(0.3)
        raise AssertionError("no exception opened")


def _lab(tmp: Path, database_url: str | None) -> AcmeLab:
    port, tls_port = free_port(), free_port()
    hosts = ",".join(f"{n}=127.0.0.1" for n in (NAME, OWNED_IP, UNOWNED_IP, REJECTED_IP))
    server = start_server(tmp, database_url=database_url, serve_args=["--tls"], token_keys=["approver"],
                          extra_env={"CERTGATE_ACME_VALIDATION_PORT": str(port), "CERTGATE_ACME_VALIDATION_HOSTS": hosts,
                                     "CERTGATE_ACME_ARI_RETRY_SECONDS": "0", "CERTGATE_ACME_TLS_ALPN_PORT": str(tls_port)})
    server.cli("ranges", "add", "1.2.3.0/24")
    return AcmeLab(server, port, tmp, tls_port)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeLab]:
    """A TLS server on SQLite, then on a fresh PostgreSQL database."""
    tmp = tmp_path_factory.mktemp(f"acme-{request.param}")
    if request.param == "sqlite":
        lab = _lab(tmp, None)
        yield lab
        stop_server(lab.server)
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: set CERTGATE_TEST_POSTGRES_URL")
    name = f"certgate_acme_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        lab = _lab(tmp, POSTGRES_URL.rsplit("/", 1)[0] + "/" + name)
        yield lab
        stop_server(lab.server)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _openssl_verify(lab: AcmeLab, cert_name: str, config: str = "certbot") -> None:
    done = subprocess.run(["openssl", "verify", "-CAfile", str(lab.server.data_dir / "ca" / "root.pem"), "-untrusted",
                           str(lab.live(cert_name, "chain.pem", config)), str(lab.live(cert_name, "cert.pem", config))],
                          text=True, capture_output=True, timeout=30)
    assert done.returncode == 0 and ": OK" in done.stdout, done.stdout + done.stderr


def test_certbot_gets_renews_and_revokes_a_name_and_an_owned_ip(lab: AcmeLab) -> None:
    eab = lab.eab("alice")
    wrong = subprocess.run(lab.certonly(NAME, cert_name="wrong", eab=(eab[0], "A" * 43), config="wrong"),
                           env=lab.env(), text=True, capture_output=True, timeout=180)
    assert wrong.returncode != 0 and "EAB MAC does not verify" in wrong.stdout + wrong.stderr

    _ok(subprocess.run(lab.certonly(NAME, OWNED_IP, cert_name="web", eab=eab), env=lab.env(), text=True,
                       capture_output=True, timeout=180))
    _openssl_verify(lab, "web")
    first = lab.live("web", "cert.pem").read_text()

    assert "succeeded" in _ok(lab.certbot("renew", "--cert-name", "web", "--force-renewal"))
    second = lab.live("web", "cert.pem").read_text()
    assert second != first
    assert "not yet due" in _ok(lab.certbot("renew", "--cert-name", "web"))
    _ok(lab.server.cli("acme", "renew-all", "--reason", "issuing CA key ceremony redone"))
    assert "succeeded" in _ok(lab.certbot("renew", "--cert-name", "web"))  # ARI says: now
    third = lab.live("web", "cert.pem").read_text()
    assert third != second

    _ok(lab.certbot("revoke", "--cert-path", str(lab.live("web", "cert.pem")), "--reason", "superseded",
                    "--no-delete-after-revoke"))
    chain = str(lab.live("web", "chain.pem"))
    ocsp = subprocess.run(["openssl", "ocsp", "-issuer", chain, "-cert", str(lab.live("web", "cert.pem")),
                           "-url", lab.server.url + "/ocsp", "-CAfile", str(lab.server.data_dir / "ca" / "root.pem"),
                           "-VAfile", chain, "-no_nonce"], text=True, capture_output=True, timeout=30)
    assert ": revoked" in ocsp.stdout, ocsp.stdout + ocsp.stderr


def test_certbot_waits_for_approvers_and_gets_the_certificate_on_a_rerun(lab: AcmeLab) -> None:
    lab.eab("bob")  # an unused key must not matter
    eab = lab.eab("carlos")
    command = lab.certonly(NAME, UNOWNED_IP, cert_name="lab", eab=eab, config="carlos")
    waiting = subprocess.Popen(command, env=lab.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        exception_id = lab.pending_exception()
    finally:
        waiting.kill()  # the client stops polling
        waiting.communicate()
    status, body = lab.server.call("POST", f"/api/v1/exceptions/{exception_id}/approve", token=lab.server.tokens["approver"],
                                   body={"reason": "lab network, approved", "grant_days": 30})
    assert status == 201 or status == 200, body
    _ok(subprocess.run(command, env=lab.env(), text=True, capture_output=True, timeout=180))
    _openssl_verify(lab, "lab", "carlos")

    rejected = subprocess.Popen(lab.certonly(REJECTED_IP, cert_name="rejected", config="carlos"), env=lab.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    exception_id = lab.pending_exception()
    status, body = lab.server.call("POST", f"/api/v1/exceptions/{exception_id}/reject", token=lab.server.tokens["approver"],
                                   body={"reason": "that address is not ours"})
    assert status == 200, body
    output, _ = rejected.communicate(timeout=120)
    assert rejected.returncode != 0 and "that address is not ours" in output, output


def _sqlite_only(lab: AcmeLab) -> None:
    """Client-side variations run once: the database paths under them are the same as above."""
    if lab.server.env.get("CERTGATE_DATABASE_URL"):
        pytest.skip("runs on the SQLite server only (CI time); the ACME unit tests cover both databases")


def test_a_1024_bit_csr_is_refused_with_bad_csr(lab: AcmeLab, tmp_path: Path) -> None:
    _sqlite_only(lab)
    key, csr = tmp_path / "weak.key", tmp_path / "weak.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/", "-addext", f"subjectAltName=DNS:{NAME}", "-outform", "DER"],
                   check=True, capture_output=True, timeout=60)
    kid, hmac_key = lab.eab("dora")
    done = lab.certbot("certonly", "--standalone", "--http-01-port", str(lab.port), "--csr", str(csr),
                       "--cert-path", str(tmp_path / "c.pem"), "--fullchain-path", str(tmp_path / "f.pem"),
                       "--chain-path", str(tmp_path / "ch.pem"), "--eab-kid", kid, "--eab-hmac-key", hmac_key,
                       config="dora")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "key_too_small" in output, output


@pytest.mark.skipif(shutil.which("lego") is None, reason="lego is not installed (scripts/test installs it as root)")
@pytest.mark.parametrize("challenge", ["http-01", "tls-alpn-01"])
def test_lego_gets_a_certificate(lab: AcmeLab, challenge: str) -> None:
    _sqlite_only(lab)
    kid, hmac_key = lab.eab(f"erin-{challenge}")
    solver = (["--http", "--http.port", f"127.0.0.1:{lab.port}"] if challenge == "http-01"
              else ["--tls", "--tls.port", f"127.0.0.1:{lab.tls_port}"])
    path = lab.home / f"lego-{challenge}"
    done = subprocess.run(["lego", "--server", lab.directory, "--accept-tos", "--email", "erin@example.com", "--eab",
                           "--kid", kid, "--hmac", hmac_key, *solver, "-d", NAME, "--path", str(path), "run"],
                          env=lab.env(), text=True, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    cert = path / "certificates" / f"{NAME}.crt"
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(lab.server.data_dir / "ca" / "root.pem"),
                               "-untrusted", str(cert), str(cert)], text=True, capture_output=True, timeout=30)
    assert verified.returncode == 0, verified.stdout + verified.stderr
