"""The audit log as one worker serves it: leaves cached in a Merkle tree, heads signed on demand.

The cache only speeds up roots and proofs; `verify` never trusts it and recomputes everything
from the rows. Indexes commit in order (writers hold the log-head lock until commit), so a
reader always sees a gap-free prefix and can extend its tree from where it stopped.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, col, select

from service.audit.merkle import MerkleTree
from service.audit.treehead import TreeHead, log_key_id, sign_tree_head
from service.db.models import AuditEvent, SignedTreeHead
from service.db.session import Database
from service.errors import BadRequest

SIGN_EVERY = timedelta(seconds=10)


@dataclass(frozen=True)
class PublishedHead:
    """A signed tree head as published."""

    tree_size: int
    root_hash: str
    timestamp: datetime
    signature: str
    key_id: str

    def as_json(self) -> dict[str, object]:
        """The contract's STH shape."""
        return {"tree_size": self.tree_size, "root_hash": self.root_hash,
                "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
                "signature": self.signature, "key_id": self.key_id}


class AuditLedger:
    """Tree heads and proofs over the audit log, for one process."""

    def __init__(self, db: Database, log_key: ec.EllipticCurvePrivateKey) -> None:
        self._db = db
        self._key = log_key
        self.key_id = log_key_id(log_key.public_key())
        self._tree = MerkleTree()
        self._lock = threading.Lock()
        self._last_signed: datetime | None = None

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key outside verifiers check tree heads with."""
        return self._key.public_key()

    def _sync(self, session: Session) -> int:
        with self._lock:
            size = len(self._tree)
            rows = session.exec(select(AuditEvent.leaf_hash).where(col(AuditEvent.index) >= size).order_by(col(AuditEvent.index))).all()
            self._tree.extend(bytes.fromhex(h) for h in rows)
            return len(self._tree)

    def tree_head(self, now: datetime) -> PublishedHead:
        """The newest signed tree head, signing (and keeping) a new one when the log has grown."""
        with self._db.write() as session:
            size = self._sync(session)
            latest = session.exec(select(SignedTreeHead).order_by(col(SignedTreeHead.tree_size).desc(), col(SignedTreeHead.id).desc())).first()
            if latest is not None and latest.tree_size == size:
                self._last_signed = now
                return _published(latest)
            self._last_signed = now
            head = TreeHead(tree_size=size, root_hash=self._tree.root(size), timestamp=now)
            row = SignedTreeHead(tree_size=size, root_hash=head.root_hash.hex(), timestamp=head.timestamp,
                                 signature=base64.b64encode(sign_tree_head(self._key, head)).decode(), key_id=self.key_id)
            session.add(row)
            return _published(row)

    def sign_if_stale(self, now: datetime, max_age: timedelta = SIGN_EVERY) -> None:
        """Sign a new head when this process last signed more than `max_age` ago.

        Rows after the newest signed head are protected only against edits that leave their
        stored leaf hash alone; frequent heads keep that window short.
        """
        if self._last_signed is None or now - self._last_signed >= max_age:
            self.tree_head(now)

    def inclusion_proof(self, index: int, tree_size: int) -> dict[str, object]:
        """RFC 6962 audit path of leaf `index` in the tree of `tree_size`.

        Raises:
            BadRequest: an index or size outside the log.
        """
        with self._db.read() as session:
            size = self._sync(session)
        if not 0 <= index < tree_size <= size:
            raise BadRequest(f"need 0 <= index < tree_size <= {size}")
        path = self._tree.inclusion_proof(index, tree_size)
        return {"leaf_index": index, "tree_size": tree_size, "audit_path": [h.hex() for h in path],
                "leaf_hash": self._tree.leaf(index).hex()}

    def consistency_proof(self, first: int, second: int) -> dict[str, object]:
        """RFC 6962 consistency proof between two tree sizes.

        Raises:
            BadRequest: sizes outside the log or in the wrong order.
        """
        with self._db.read() as session:
            size = self._sync(session)
        if not 0 < first <= second <= size:
            raise BadRequest(f"need 0 < first <= second <= {size}")
        return {"first": first, "second": second,
                "consistency": [h.hex() for h in self._tree.consistency_proof(first, second)]}


def _published(row: SignedTreeHead) -> PublishedHead:
    return PublishedHead(row.tree_size, row.root_hash, row.timestamp, row.signature, row.key_id)
