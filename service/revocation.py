"""Revocation status published: CRLs shared by every worker through the database, OCSP answers.

Every issuing CA generation (`certgate ca rollover`) has its own CRL and delegated OCSP
responder, and answers for the certificates it signed until the last of them expires. An issuing CA's CRL is rebuilt inside the transaction that revokes (so it never lags the
database) and when it nears nextUpdate; workers cache the DER by CRL number. OCSP answers for
an unchanged status are reused until half their validity has passed; nonce requests are signed fresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from sqlmodel import Session, col, select

from policies.config import Policy
from service.ca.authority import CertificateAuthority
from service.ca.crl import RevocationReason, RevokedEntry, build_crl, crl_is_due
from service.ca.hsm import open_token
from service.ca.keystore import SigningKey, load_certificate, load_private_key, write_certificate, write_private_key
from service.ca.ocsp import (CertId, CertStatusAnswer, MalformedOcspRequest, is_for_issuer, malformed_response, parse_ocsp_request,
                             unauthorized_response)
from service.ca.ocsp_responder import OcspResponseCache, create_ocsp_responder, responder_needs_rotation
from service.ca_roster import CaRoster
from service.ca.signer import CaKey
from service.ca.token_key import TokenKey
from service.db.models import Certificate, CrlState
from service.db.session import Database
from service.errors import TokenUnavailable

log = logging.getLogger("certgate.revocation")
ISSUING, ROOT = "issuing", "root"
ROOT_CRL_DAYS, ROOT_CRL_REFRESH_DAYS = 180, 30
ROTATE_RESPONDER_BEFORE = timedelta(days=7)


def crl_issuer_key(generation: int) -> str:
    """The `crl_state` row of an issuing CA generation (generation 1 keeps the original `issuing`)."""
    return ISSUING if generation == 1 else f"{ISSUING}-{generation}"


class Revocation:
    """CRLs and OCSP for one process."""

    def __init__(self, db: Database, roster: CaRoster, policy: Policy, data_dir: Path, passphrase: bytes | None) -> None:
        self._db, self._roster, self._policy = db, roster, policy
        self._passphrase = passphrase
        self._ocsp_dir = data_dir / "ocsp"
        self._lock = threading.Lock()
        self._crl_cache: dict[str, tuple[int, datetime, bytes]] = {}
        self._ocsp_validity = timedelta(hours=policy.ocsp_validity_hours)
        self._ocsp_cache = OcspResponseCache(max_age=self._ocsp_validity / 2)
        self._responders: dict[int, tuple[x509.Certificate, CaKey | SigningKey]] = {}

    # --- CRL ----------------------------------------------------------------------------------

    def regenerate(self, session: Session, now: datetime, generation: int = 1) -> CrlState:
        """Rebuild an issuing CA's CRL with every revoked, unexpired certificate it signed (in `session`).

        Raises:
            NotFound: no such issuing CA generation.
        """
        ca = self._roster.get(generation)
        rows = session.exec(select(Certificate.serial_number, Certificate.revoked_at, Certificate.revocation_reason)
                            .where(col(Certificate.revoked_at).is_not(None), Certificate.not_after > now,
                                   Certificate.issuer_ca == generation)).all()
        entries = [RevokedEntry(int(s, 16), at, RevocationReason(r or "unspecified")) for s, at, r in rows if at is not None]
        next_update = now + timedelta(hours=self._policy.crl_next_update_hours)
        return self._store(session, crl_issuer_key(generation), now, next_update,
                           lambda number: build_crl(ca.issuing_cert, ca.issuing_key, entries,
                                                    crl_number=number, this_update=now, next_update=next_update))

    def _store(self, session: Session, issuer: str, now: datetime, next_update: datetime, build) -> CrlState:  # type: ignore[no-untyped-def]
        state = session.exec(select(CrlState).where(CrlState.issuer == issuer).with_for_update()).first()
        number = (state.crl_number + 1) if state else 1
        der = build(number)
        if state is None:
            state = CrlState(issuer=issuer, crl_number=number, this_update=now, next_update=next_update, der=der)
        else:
            state.crl_number, state.this_update, state.next_update, state.der = number, now, next_update, der
        session.add(state)
        session.flush()
        return state

    def crl(self, now: datetime, generation: int = 1) -> bytes:
        """An issuing CA's current CRL (DER), rebuilt first when it is due.

        Raises:
            NotFound: no such issuing CA generation.
        """
        self._roster.get(generation)
        return self._current(crl_issuer_key(generation), now, timedelta(hours=self._policy.crl_refresh_before_hours),
                             lambda session, at: self.regenerate(session, at, generation))

    def root_crl(self, now: datetime) -> bytes:
        """The root's CRL (it lists no issuing CA: none was ever revoked), signed with the root key."""
        def rebuild(session: Session, at: datetime) -> CrlState:
            ca = self._roster.get(1)
            root_key = ca.load_root_key()
            next_update = at + timedelta(days=ROOT_CRL_DAYS)
            return self._store(session, ROOT, at, next_update,
                               lambda number: build_crl(ca.root_cert, root_key, [], crl_number=number,
                                                        this_update=at, next_update=next_update))
        return self._current(ROOT, now, timedelta(days=ROOT_CRL_REFRESH_DAYS), rebuild)

    def _current(self, issuer: str, now: datetime, refresh_before: timedelta,
                 rebuild: Callable[[Session, datetime], CrlState]) -> bytes:
        with self._db.read() as session:
            row = session.exec(select(CrlState.crl_number, CrlState.this_update, CrlState.next_update)
                               .where(CrlState.issuer == issuer)).first()
        if row is None or crl_is_due(row[1], row[2], now, refresh_before):
            with self._db.write() as session:
                state = session.exec(select(CrlState).where(CrlState.issuer == issuer).with_for_update()).first()
                if state is None or crl_is_due(state.this_update, state.next_update, now, refresh_before):
                    state = rebuild(session, now)
                current_number = state.crl_number
                self._crl_cache[issuer] = (state.crl_number, state.next_update, state.der)
        else:
            current_number = row[0]
        cached = self._crl_cache.get(issuer)
        if cached is None or cached[0] != current_number:
            with self._db.read() as session:
                state = session.exec(select(CrlState).where(CrlState.issuer == issuer)).one()
            cached = self._crl_cache[issuer] = (state.crl_number, state.next_update, state.der)
        return cached[2]

    # --- OCSP ---------------------------------------------------------------------------------

    def responder(self, now: datetime, generation: int = 1) -> tuple[x509.Certificate, CaKey | SigningKey]:
        """An issuing CA's delegated responder, loaded from the data dir, created or rotated when needed.

        Its key is a file, or (generation 1's keys in a token and CERTGATE_PKCS11_OCSP_LABEL set) a
        token key that each rotation certifies again.

        Raises:
            NotFound: no such issuing CA generation.
            TokenUnavailable: the responder key is in a token that is missing or locked.
        """
        with self._lock:
            current = self._responders.get(generation)
            if current is None or responder_needs_rotation(current[0], now, ROTATE_RESPONDER_BEFORE):
                try:
                    self._responders[generation] = self._load_or_rotate(now, generation)
                except TokenUnavailable:
                    if current is None or now >= current[0].not_valid_after_utc:
                        raise
                    log.warning("OCSP responder rotation postponed: the CA token is unavailable")
            return self._responders[generation]

    def _load_or_rotate(self, now: datetime, generation: int) -> tuple[x509.Certificate, CaKey | SigningKey]:
        """The responder on disk if it is still good, else a new certificate (and key, unless in the token)."""
        ca = self._roster.get(generation)
        stem = "responder" if generation == 1 else f"responder-{generation}"
        cert_path, key_path = self._ocsp_dir / f"{stem}.pem", self._ocsp_dir / f"{stem}.key.pem"
        token_key = self._token_responder_key(ca)
        if cert_path.exists() and (token_key is not None or key_path.exists()):
            cert = load_certificate(cert_path)
            if not responder_needs_rotation(cert, now, ROTATE_RESPONDER_BEFORE):
                if token_key is None:
                    return cert, load_private_key(key_path, self._passphrase)
                if cert.public_key() == token_key.public_key():
                    return cert, token_key
        cert, key = create_ocsp_responder(ca.issuing_cert, ca.issuing_key, now, key=token_key)
        if not isinstance(key, CaKey):
            write_private_key(key_path, key, self._passphrase)
        write_certificate(cert_path, cert)
        return cert, key

    @staticmethod
    def _token_responder_key(ca: CertificateAuthority) -> TokenKey | None:
        token = ca.token
        if token is None or token.ocsp_label is None or not isinstance(ca.issuing_key, TokenKey):
            return None
        session = open_token(token)
        return TokenKey(session, token.ocsp_label, session.public_key(token.ocsp_label))

    def ocsp(self, der: bytes, now: datetime) -> bytes:
        """The DER OCSP response for a DER request (malformedRequest/unauthorized when it must be).

        The request's CertID names the issuing CA; each generation answers for its own certificates.
        """
        try:
            query = parse_ocsp_request(der)
        except MalformedOcspRequest:
            return malformed_response()
        generation = self._generation_of(query.cert_ids[0])
        if generation is None:
            return unauthorized_response()
        cert, key = self.responder(now, generation)
        issuer = self._roster.get(generation).issuing_cert
        return self._ocsp_cache.respond(query, issuer, cert, key, lambda serial: self._status(serial, generation), now,
                                        self._ocsp_validity)

    def _generation_of(self, cert_id: CertId) -> int | None:
        for attempt in range(2):
            if attempt:
                self._roster.refresh()  # a CA this process has not heard of yet
            for generation in self._roster.generations():
                if is_for_issuer(cert_id, generation.ca.issuing_cert):
                    return generation.id
        return None

    def _status(self, serial: int, generation: int) -> CertStatusAnswer:
        with self._db.read() as session:
            row = session.exec(select(Certificate.revoked_at, Certificate.revocation_reason)
                               .where(Certificate.serial_number == format(serial, "x"),
                                      Certificate.issuer_ca == generation)).first()
        if row is None:
            return CertStatusAnswer.unknown()
        if row[0] is None:
            return CertStatusAnswer.good()
        return CertStatusAnswer.revoked(row[0], RevocationReason(row[1] or "unspecified"))
