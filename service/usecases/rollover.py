"""Issuing CA rollover: a new issuing CA under the same root, the signer from a given time; and the CAs' status."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import case, func, select

from service.audit.log import append_event
from service.ca.authority import CA_COUNTRY, CA_ORGANIZATION, ISSUING_YEARS, CaPaths, CertificateAuthority, new_serial
from service.ca.hsm import TokenConfig, open_token
from service.ca.keystore import (CaKeyType, generate_key, load_certificate, write_certificate,
                                 write_private_key)
from service.ca.profile import Urls, ca_name, issuing_builder
from service.ca.signer import CaPublicKey
from service.ca.token_key import TokenKey
from service.ca_roster import RECHECK, certificate_sha256
from service.db.models import CaGeneration, Certificate, table_of
from service.db.session import Database
from service.errors import BadRequest, Conflict

BACKDATE = timedelta(minutes=5)
PAST_TOLERANCE = timedelta(minutes=1)  # "--at" a moment ago is "now"; further back rewrites no history
# The least time between the commit and the switch: every signing process reads the head at
# least once a second (`service.ca_roster.RECHECK`), so all of them know the new CA before it
# starts and switch at the same instant (instances' clocks must agree within the difference, 2 s).
SWITCH_NOTICE = 3 * RECHECK


@dataclass(frozen=True)
class RolloverResult:
    """The new issuing CA and when it starts signing."""

    generation: int
    certificate: x509.Certificate
    active_from: datetime


def key_type_of(key: CaPublicKey) -> CaKeyType:
    """The `CaKeyType` of an existing CA key (a rollover keeps the signer's by default)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return CaKeyType.P384 if key.curve.name == "secp384r1" else CaKeyType.P256
    return CaKeyType.RSA3072 if key.key_size <= 3072 else CaKeyType.RSA4096


def _head(db: Database, now: datetime) -> int:
    """The newest generation; refused while one waits for its start (its successor would overtake it)."""
    with db.read() as session:
        found = session.execute(select(func.max(table_of(CaGeneration).c.id))).scalar()
        waiting = session.execute(select(table_of(CaGeneration)).where(table_of(CaGeneration).c.active_from > now)).first()
    if waiting is not None:
        raise Conflict(f"issuing CA {waiting.id} is scheduled to sign from {waiting.active_from.isoformat()}: "
                       "roll over again once it signs")
    return int(found) if found is not None else 1


def _claim(path: Path) -> None:
    """Create `path` empty and exclusively: two rollovers racing for one generation cannot both win."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise Conflict(f"{path.name} exists: another rollover is under way, or an abandoned one left it "
                       "(remove it when `certgate ca status` does not list that generation)") from None


def roll_over(db: Database, ca_dir: Path, passphrase: bytes | None, base_url: str, *, actor: str,
              clock: Callable[[], datetime], active_from: datetime | None = None,
              key_type: CaKeyType | None = None, token: TokenConfig | None = None) -> RolloverResult:
    """Make the next issuing CA generation under the root; it signs from `active_from` (default: now).

    The new key lives where the current issuing key does: a file, or (CA keys in `token`) a
    non-extractable token key labelled `TokenConfig.issuing_label_for(generation)`, only its
    certificate in `ca_dir`. The key and certificate are made first (unreferenced until the row
    exists); the row and its `ca:rolled_over` audit event (naming where the key lives) then commit
    together. The switch is at `active_from`, but never earlier than `SWITCH_NOTICE` after the commit (read from `clock` in the
    transaction): running servers learn of the new CA before it starts, so no certificate is
    signed by the old CA after the recorded switch, nor by the new one before it.

    Raises:
        BadRequest: `active_from` lies in the past, or after the new CA would expire.
        Conflict: another rollover took the same generation, or one waits for its start.
        CaError: the root key cannot be read (wrong passphrase), or the token holds the new label already.
        TokenUnavailable: the CA keys are in a token that is missing or locked.
    """
    now = clock()
    start = now if active_from is None else active_from
    if start < now - PAST_TOLERANCE:
        raise BadRequest("the rollover time lies in the past: it would rewrite which CA signed what")
    generation = _head(db, now) + 1
    signer = CertificateAuthority.load(ca_dir, passphrase, base_url, generation - 1, token=token)
    root_key = signer.load_root_key()
    root = signer.root_cert
    kind = key_type or key_type_of(signer.issuing_key.public_key())
    not_before = now - BACKDATE
    not_after = min(not_before + timedelta(days=365 * ISSUING_YEARS), root.not_valid_after_utc)
    if start >= not_after:
        raise BadRequest("the new issuing CA would expire before it starts signing")
    paths = CaPaths(ca_dir, generation)
    in_token = token is not None and isinstance(signer.issuing_key, TokenKey)
    _claim(paths.issuing_cert if in_token else paths.issuing_key)
    made: TokenKey | None = None
    try:
        if token is not None and in_token:
            session = open_token(token)
            label = token.issuing_label_for(generation)
            made = TokenKey(session, label, session.generate(label, kind))
            public, location = made.public_key(), made.location
        else:
            key = generate_key(kind)
            public, location = key.public_key(), f"file:{paths.issuing_key.name}"
            write_private_key(paths.issuing_key, key, passphrase)
        name = ca_name(f"certgate Issuing CA {generation}", CA_ORGANIZATION, CA_COUNTRY)
        cert = root_key.sign_certificate(issuing_builder(public, name, root, new_serial(), not_before, not_after,
                                                         Urls(base_url.rstrip("/"), generation)))
        write_certificate(paths.issuing_cert, cert)
        return _record(db, generation, cert, kind, location, actor, now, start, clock)
    except BaseException:
        paths.issuing_key.unlink(missing_ok=True)  # ours: claimed exclusively above
        paths.issuing_cert.unlink(missing_ok=True)
        if made is not None:
            made.token.destroy(made.label)  # ours: `generate` refuses an existing label
        raise


def _record(db: Database, generation: int, cert: x509.Certificate, kind: CaKeyType, location: str, actor: str,
            now: datetime, start: datetime, clock: Callable[[], datetime]) -> RolloverResult:
    """The generation's row and its audit event, in one transaction."""
    digest = certificate_sha256(cert)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    with db.write() as session:
        if session.get(CaGeneration, generation) is not None:
            raise Conflict(f"issuing CA {generation} exists already")
        start = max(start, clock() + SWITCH_NOTICE)
        session.add(CaGeneration(id=generation, subject=cert.subject.rfc4514_string(), certificate_sha256=digest,
                                 active_from=start, created_at=now, created_by=actor))
        session.flush()
        append_event(session, event="ca:rolled_over", actor=actor, subject=f"ca:issuing:{generation}", at=now, data={
            "generation": generation, "previous": generation - 1, "subject": cert.subject.rfc4514_string(),
            "certificate_sha256": digest, "serial_number": format(cert.serial_number, "x"), "key_type": kind.value,
            "key_location": location,
            "not_before": not_before.isoformat(), "not_after": not_after.isoformat(), "active_from": start.isoformat()})
    return RolloverResult(generation, cert, start)


@dataclass(frozen=True)
class CaStatus:
    """One issuing CA: its validity, its schedule and what it still does at `now`."""

    generation: int
    subject: str
    not_before: datetime
    not_after: datetime
    active_from: datetime | None
    signing: bool
    certificates: int
    unexpired: int
    last_expiry: datetime | None
    now: datetime

    @property
    def duty(self) -> str:
        """What it does: signs, will sign, answers for its certificates, or nothing more."""
        if self.signing:
            return "issuing; CRL and OCSP for its certificates"
        if self.active_from is not None and self.active_from > self.now:
            return f"scheduled: issuing from {self.active_from.isoformat()}"
        if self.unexpired:
            return f"retired from issuing; CRL and OCSP until {self.last_expiry.isoformat() if self.last_expiry else '?'}"
        return "retired: no unexpired certificate left to answer for"


def ca_status(db: Database, ca_dir: Path, now: datetime) -> list[CaStatus]:
    """Every issuing CA generation, oldest first, with its counts from the inventory.

    Raises:
        CaError: a generation's certificate file is missing or unreadable.
    """
    certs = table_of(Certificate)
    with db.read() as session:
        rows = {row.id: row for row in session.execute(select(table_of(CaGeneration))).all()}
        counts = {g: (int(n), int(live or 0), last) for g, n, live, last in session.execute(
            select(certs.c.issuer_ca, func.count(), func.sum(case((certs.c.not_after > now, 1), else_=0)),
                   func.max(certs.c.not_after)).group_by(certs.c.issuer_ca)).all()}
    schedule = {1: None} | {g: row.active_from for g, row in rows.items()}
    begun = [g for g, at in schedule.items() if at is None or at <= now]
    signer = max(begun)
    out = []
    for generation in sorted(schedule):
        cert = load_certificate(CaPaths(ca_dir, generation).issuing_cert)
        n, live, last = counts.get(generation, (0, 0, None))
        out.append(CaStatus(generation, cert.subject.rfc4514_string(), cert.not_valid_before_utc, cert.not_valid_after_utc,
                            schedule[generation], generation == signer, n, live, last if live else None, now))
    return out
