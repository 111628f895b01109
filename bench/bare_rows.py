"""The rows certgate writes for one issuance, written with the plain `sqlite3` module: target (e).

`bench/issuance.py` asks how much of certgate's cost per request is the database transaction
that every issuance must commit. The bare issuer with a `RowWriter` answers it: after signing it
writes, in ONE `BEGIN IMMEDIATE ... COMMIT`, what `service.usecases.submit.submit_request` and
`service.issuance.record_certificate` write for an issued request:

- one `requests` row (uuid id, the CSR PEM, the JSON columns as SQLAlchemy stores them);
- two `audit_events` rows (`request:submitted`, `certificate:issued`), each taking its index by
  `UPDATE audit_head ... RETURNING` and carrying the leaf hash of its canonical JSON;
- one `certificates` row and its `certificate_names` rows (one dns, one ip for the bench's CSRs).

Into a database certgate created (`certgate init` and its migrations: the real schema, indexes
and foreign keys), with the connection settings of `service.db.session` (WAL,
synchronous=NORMAL, foreign_keys=ON, a 30 s busy timeout) and, as there, an advisory `flock`
taken before `BEGIN IMMEDIATE` so the two workers hand the write lock over without SQLite's
sleeping busy handler. No SQLAlchemy, no auth, no policy, no strict DER checks, no reads: the
floor under certgate's durable work, not a second implementation of it.

`checkpoint_thread=True`, target (f), runs WAL checkpoints as `certgate serve` does (its
`WalCheckpointer`, automatic checkpoints raised to a backstop); without it SQLite checkpoints
inside whichever commit pushes the log past 1000 pages.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from service.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from service.inventory_names import dns_key, ip_key

if TYPE_CHECKING:
    from bare_issuer import Leaf

REQUESTER = "bench"  # the token name `harness.prepare_certgate` gives certgate's requester
# Same shape and length as certgate's "sha256:<policy file hash>"; the bare issuer has no policy.
POLICY_VERSION = "sha256:" + hashlib.sha256(b"bare issuer: no policy").hexdigest()
VALIDITY_DAYS = 90
BUSY_SECONDS = 30
SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default, which certgate keeps outside `serve`

_INSERT_REQUEST = (
    "INSERT INTO requests (id, requester, status, csr_pem, csr_sha256, common_name, named_ips, violations, "
    "waived, policy_version, validity_days, client_auth, justification, grant_id, created_at, decided_at) "
    "VALUES (?, ?, 'issued', ?, ?, ?, ?, '[]', '[]', ?, ?, 0, NULL, NULL, ?, ?)"
)
_NEXT_INDEX = "UPDATE audit_head SET size = size + 1 WHERE id = 1 RETURNING size"
_INSERT_EVENT = 'INSERT INTO audit_events ("index", event, actor, at, subject, data, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?)'
_INSERT_CERTIFICATE = (
    "INSERT INTO certificates (serial_number, request_id, requester, common_name, pem, sha256_fingerprint, "
    "not_before, not_after, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NAME = "INSERT INTO certificate_names (certificate_id, kind, value) VALUES (?, ?, ?)"


class RowWriter:
    """Commits one issuance's rows per call; one connection per process, opened after the fork."""

    def __init__(self, database: Path, *, checkpoint_thread: bool = False, requester: str = REQUESTER) -> None:
        self.database = database.resolve()
        self.requester = requester
        self._checkpoint_thread = checkpoint_thread
        self._pid: int | None = None
        self._connection: sqlite3.Connection | None = None
        self._lock_fd = -1

    def record(self, csr_pem: bytes, leaf: Leaf, certificate_pem: bytes, now: datetime) -> None:
        """Write the request, certificate, names and both audit events in one transaction.

        Raises:
            sqlite3.Error: the database refused the rows (nothing is kept) or stayed locked.
        """
        csr, cert = leaf.csr, leaf.certificate
        request_id = str(uuid.uuid4())
        der = cert.public_bytes(Encoding.DER)
        serial = format(cert.serial_number, "x")
        common_name = _common_name(csr)
        dns_names, ips = _san(cert)
        at = _stored(now)
        not_after = cert.not_valid_after_utc
        submitted = {
            "csr_sha256": hashlib.sha256(csr.public_bytes(Encoding.DER)).hexdigest(),
            "verdict": "issue", "violations": [], "waived": [], "grant_id": None,
            "policy_version": POLICY_VERSION, "named_ips": ips, "validity_days": VALIDITY_DAYS,
        }
        issued = {
            "request_id": request_id, "serial_number": serial, "certificate_sha256": hashlib.sha256(der).hexdigest(),
            "requester": self.requester, "not_after": not_after.isoformat(), "waived_lint": [],
            "grant_id": None, "exception_id": None,
        }
        names = sorted({("ip", ip_key(ip)) for ip in ips} | {("dns", dns_key(n)) for n in dns_names})
        connection = self._connect()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # released at once when the holder commits
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(_INSERT_REQUEST, (
                    request_id, self.requester, csr_pem.decode(), submitted["csr_sha256"], common_name,
                    json.dumps(ips), POLICY_VERSION, VALIDITY_DAYS, at, at))
                self._append(connection, "request:submitted", f"request:{request_id}", submitted, now)
                certificate_id = connection.execute(_INSERT_CERTIFICATE, (
                    serial, request_id, self.requester, common_name, certificate_pem.decode(),
                    hashlib.sha256(der).hexdigest(), _stored(cert.not_valid_before_utc), _stored(not_after),
                    at)).lastrowid
                connection.executemany(_INSERT_NAME, [(certificate_id, kind, value) for kind, value in names])
                self._append(connection, "certificate:issued", f"certificate:{serial}", issued, now)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _append(self, connection: sqlite3.Connection, event: str, subject: str, data: dict[str, Any],
                now: datetime) -> None:
        """The next audit leaf: the index from `audit_head`, the row and its hash (`service.audit.log`)."""
        index = connection.execute(_NEXT_INDEX).fetchone()[0] - 1
        connection.execute(_INSERT_EVENT, (index, event, self.requester, _stored(now), subject, json.dumps(data),
                                           leaf_hash(index, event, self.requester, now, subject, data)))

    def _connect(self) -> sqlite3.Connection:
        """This process's connection, lock file and checkpointer (a preloaded app forks after init)."""
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        connection = sqlite3.connect(self.database, timeout=BUSY_SECONDS, isolation_level=None)
        autocheckpoint = BACKSTOP_PAGES if self._checkpoint_thread else SQLITE_AUTOCHECKPOINT
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"wal_autocheckpoint={autocheckpoint}",
                       "foreign_keys=ON", f"busy_timeout={BUSY_SECONDS * 1000}"):
            connection.execute(f"PRAGMA {pragma}").fetchall()
        lock = self.database.with_name(self.database.name + ".writer-lock")
        self._lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if self._checkpoint_thread:
            WalCheckpointer(self.database).start()
        self._connection, self._pid = connection, os.getpid()
        return connection


def leaf_hash(index: int, event: str, actor: str, at: datetime, subject: str, data: dict[str, Any]) -> str:
    """SHA-256(0x00 || canonical JSON) in hex, as `service.audit.canonical` defines it.

    Written out rather than imported: certgate's version also validates its input (no floats,
    str keys), which the floor leaves out; the test checks both agree.
    """
    document = {"v": 1, "index": index, "event": event, "actor": actor, "subject": subject, "data": data,
                "at": at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"\x00" + text.encode()).hexdigest()


def _stored(at: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it (certgate's `UtcDateTime`: naive UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _common_name(csr: x509.CertificateSigningRequest) -> str | None:
    attributes = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else None


def _san(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The leaf's DNS names and IPs (compressed text), as certgate's names rows take them."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
