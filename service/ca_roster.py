"""The issuing CAs one process serves with: every generation a rollover made, and which one signs when."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from service.ca.authority import CertificateAuthority
from service.ca.hsm import TokenConfig
from service.db.models import CaGeneration, table_of
from service.db.session import Database
from service.errors import CaError, NotFound

_GENERATIONS = table_of(CaGeneration)
_HEAD = select(func.max(_GENERATIONS.c.id))
# How often a signing process asks for the head. A rollover starts at least `SWITCH_NOTICE`
# (service.usecases.rollover) after it commits, which is longer: every process has loaded the new
# CA before its time and all switch at the same instant, without a database read per signature.
RECHECK = timedelta(seconds=1)


@dataclass(frozen=True)
class Generation:
    """One issuing CA and the moment it became (or becomes) the signer; None: from the start."""

    id: int
    ca: CertificateAuthority
    active_from: datetime | None

    def signs_at(self, now: datetime) -> bool:
        """Whether this generation's schedule has begun at `now` (the newest begun one signs)."""
        return self.active_from is None or self.active_from <= now


def certificate_sha256(cert: x509.Certificate) -> str:
    """The SHA-256 of a CA certificate's DER, as `ca_generations` records it."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


class CaRoster:
    """Generation 1 (`certgate init`) and every later one, loaded from the data dir as rows appear.

    A running server learns of a rollover by comparing the head (the highest generation id, one
    indexed read) with its own before it signs, at most once a second; the schedule itself
    (`active_from`) is then followed from memory, so the switch happens on time on every process.
    """

    def __init__(self, db: Database, ca_dir: Path, passphrase: bytes | None, base_url: str,
                 first: CertificateAuthority, token: TokenConfig | None = None) -> None:
        self._db, self._ca_dir, self._passphrase, self._base_url = db, ca_dir, passphrase, base_url
        self._token = token
        self._generations: dict[int, Generation] = {1: Generation(1, first, None)}
        self._head = 1
        self._lock = threading.Lock()
        self._checked_at: datetime | None = None

    @classmethod
    def load(cls, db: Database, ca_dir: Path, passphrase: bytes | None, base_url: str,
             token: TokenConfig | None = None) -> CaRoster:
        """Generation 1 from the files, then every generation the database names (their keys perhaps in `token`).

        Raises:
            CaError: a CA's files are missing, unreadable, or differ from what the rollover recorded.
            TokenUnavailable: generation 1's key is in a token that is missing or locked.
        """
        roster = cls(db, ca_dir, passphrase, base_url, CertificateAuthority.load(ca_dir, passphrase, base_url, token=token),
                     token)
        roster.refresh()
        return roster

    def refresh(self) -> None:
        """Load the generations a rollover added since the last look.

        Raises:
            CaError: a new generation's files are missing or differ from its row.
            ServiceUnavailable: the database cannot be reached.
        """
        with self._db.direct_read() as unit:
            row = unit.first(_HEAD)
        head = int(row[0]) if row is not None and row[0] is not None else 1
        if head <= self._head:
            return
        with self._lock, self._db.read() as session:
            rows = session.execute(select(_GENERATIONS).where(_GENERATIONS.c.id > self._head)
                                   .order_by(_GENERATIONS.c.id)).all()
            grown = dict(self._generations)  # replaced whole: readers iterate without the lock
            for found in rows:
                ca = CertificateAuthority.load(self._ca_dir, self._passphrase, self._base_url, found.id, token=self._token)
                if certificate_sha256(ca.issuing_cert) != found.certificate_sha256:
                    raise CaError(f"the certificate of issuing CA {found.id} differs from the one its rollover recorded")
                grown[found.id] = Generation(found.id, ca, found.active_from)
            self._generations = grown
            self._head = max(grown)

    def signer(self, now: datetime) -> CertificateAuthority:
        """The issuing CA that signs at `now`: the newest generation whose schedule has begun."""
        begun = [g for g in self._generations.values() if g.signs_at(now)]
        return max(begun, key=lambda g: g.id).ca

    def current(self, now: datetime) -> CertificateAuthority:
        """`signer(now)` after learning of any rollover (what issuance and `/ca.pem` use).

        The head is read when the last read is `RECHECK` old by `now` (or `now` went back): a
        rollover commits at least `SWITCH_NOTICE` before its start, so a row committed since the
        last read cannot have started yet, and the signer chosen here is never stale.

        Raises:
            CaError, ServiceUnavailable: as `refresh`.
        """
        checked = self._checked_at
        if checked is None or not checked <= now < checked + RECHECK:
            self.refresh()
            self._checked_at = now
        return self.signer(now)

    def get(self, generation: int) -> CertificateAuthority:
        """The issuing CA of `generation` (looked up in the database when not yet known here).

        Raises:
            NotFound: no such generation.
        """
        if generation not in self._generations:
            self.refresh()
        found = self._generations.get(generation)
        if found is None:
            raise NotFound(f"no issuing CA {generation}")
        return found.ca

    def generations(self) -> list[Generation]:
        """Every known generation, oldest first."""
        return [self._generations[k] for k in sorted(self._generations)]

    def chain_pem(self, generation: int) -> str:
        """The PEM chain a certificate of `generation` verifies with: its issuing CA, then the root."""
        try:
            return self.get(generation).chain_pem
        except NotFound:
            raise CaError(f"issuing CA {generation} is not in this data dir") from None
