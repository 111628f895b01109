"""One event's inclusion in the latest signed tree head, checked the way an outside verifier would."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from service.audit.canonical import event_leaf_hash
from service.audit.ledger import AuditLedger, PublishedHead
from service.audit.merkle import verify_inclusion
from service.audit.treehead import TreeHead, verify_tree_head
from service.db.models import AuditEvent
from service.db.session import Database
from service.errors import NotFound


@dataclass(frozen=True)
class InclusionCheck:
    """The evidence and each check's outcome: the leaf recomputed, the head's signature, the audit path."""

    event: AuditEvent
    head: PublishedHead
    audit_path: list[str]
    leaf_matches: bool
    head_signed: bool
    proof_holds: bool

    @property
    def ok(self) -> bool:
        """All three checks hold."""
        return self.leaf_matches and self.head_signed and self.proof_holds


def check_inclusion(db: Database, ledger: AuditLedger, index: int, now: datetime) -> InclusionCheck:
    """Prove event `index` is in the latest signed tree head, and verify that proof.

    Raises:
        NotFound: no event with this index.
    """
    with db.read() as session:
        event = session.get(AuditEvent, index)
    if event is None:
        raise NotFound(f"no audit event {index}")
    head = ledger.tree_head(now)
    proof = ledger.inclusion_proof(index, head.tree_size)
    path = [str(h) for h in proof["audit_path"]]  # type: ignore[attr-defined]
    computed = event_leaf_hash(event.index, event.event, event.actor, event.at, event.subject, event.data)
    root = bytes.fromhex(head.root_hash)
    signed = verify_tree_head(ledger.public_key, TreeHead(head.tree_size, root, head.timestamp), base64.b64decode(head.signature))
    holds = verify_inclusion(computed, index, head.tree_size, [bytes.fromhex(h) for h in path], root)
    return InclusionCheck(event, head, path, computed.hex() == event.leaf_hash, signed, holds)
