"""A bounded memo of the work pkilint repeats for every leaf of the same CA and profile.

Most of a leaf is the same from one certificate to the next: the issuer name, the authority key
identifier, CRL distribution point, AIA, policies, basic constraints, key usages. pkilint's
decoding validators turn each extension's `extnValue` (and each name attribute's value, algorithm
parameters, policy qualifiers) into a pyasn1 value with pyasn1-fasder, and that decoding is
about a third of a lint. The value is a function of the schema object and the bytes alone
(`decode_der(bytes(substrate), asn1Spec)`), so a `LintMemo` keeps the values decoded from recent
(schema, bytes) pairs and hands the same value to the next certificate, which still gets its own
`PDUNode`s (pkilint's `create_and_append_node_from_pdu`, as on a fresh decode). The same memo
keeps the verdict of the URI syntax check (`validators.url`, a pure function of the text) on the
CA's own CRL, OCSP and caIssuers URLs, which every leaf carries.

Sharing a pyasn1 value between documents and threads is safe because nothing writes to it after
its first node tree is built: pkilint 0.13's validators only read node values, and the one write
pyasn1 makes on a read (`items()` instantiating an absent optional component as a valueless
schema object) has already happened, on the fresh value, while pkilint built its node tree,
before the value enters the memo. `tests/service/ca/test_lint_memo.py` checks both: that the
findings equal pkilint's own, and that the memo's values are unchanged after many lints.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pkilint import document, validation
from pkilint.pkix import general_name

# Each CA and profile repeats a dozen or so decodes and URLs per leaf; the rest (SAN, subject
# attributes) are new with every certificate and only pass through the least recently used end.
DEFAULT_MAX_ENTRIES = 256
# A substrate longer than this is a long SAN or the like, unique to its certificate: not kept.
DEFAULT_MAX_SUBSTRATE = 1024


class LintMemo:
    """Results of deterministic lint work by immutable key; bounded, least recently used out.

    One lock guards the dictionary; the work happens outside it, so two threads that miss the
    same key both do it, and the second result replaces the first (they are equal).
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_substrate: int = DEFAULT_MAX_SUBSTRATE) -> None:
        self.max_entries = max_entries
        self.max_substrate = max_substrate
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> Any | None:
        """The result remembered for `key`, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple[Any, ...], result: Any) -> None:
        """Remember `result` for `key`, dropping the least recently used entry when full."""
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def items(self) -> list[tuple[tuple[Any, ...], Any]]:
        """Every (key, result), least recently used first (for tests and the benchmark)."""
        with self._lock:
            return list(self._entries.items())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def memoize(container: validation.ValidatorContainer, memo: LintMemo) -> int:
    """Send `container`'s substrate decodes and URI syntax checks through `memo`; how many validators.

    Only validators whose code was read for this are touched: decoders that use pkilint's own
    `ValueDecoder.decode_value` (the subject-public-key decoder overrides it, for a key that
    differs per certificate anyway) and `GeneralNameUriSyntaxValidator` itself, not a subclass.
    """
    count = 0
    for v in container.validators:
        if isinstance(v, validation.ValidatorContainer):
            count += memoize(v, memo)
        elif isinstance(v, validation.DecodingValidator):
            decoder = v.decode_func
            if type(decoder).decode_value is document.ValueDecoder.decode_value:
                decoder.decode_value = _memoized_decode_value(decoder, memo)
                count += 1
        elif type(v) is general_name.GeneralNameUriSyntaxValidator:
            v.validate_value = _memoized_uri_check(v, memo)
            count += 1
    return count


def _memoized_decode_value(decoder: document.ValueDecoder, memo: LintMemo) -> Any:
    """`decoder.decode_value` with pyasn1-fasder's decode skipped when `memo` has the value.

    A miss (and a failure, which is never remembered) goes through pkilint's own code, so its
    errors and messages are unchanged. The key holds `id(spec)` and the entry `spec` itself: the
    reference keeps that id from going to another object while the entry lives, and `is` makes
    the match exact (two schema objects of one class may differ in tags or constraints).
    """
    original = decoder.decode_value

    def decode_value(node: Any, type_node: Any, value_node: Any, pdu_type: Any) -> Any:
        if value_node.children:
            return original(node, type_node, value_node, pdu_type)  # decoded already: pkilint returns that node
        substrate = bytes(decoder.retrieve_substrate(value_node))
        key = ("decode", id(pdu_type), substrate)
        found = memo.get(key)
        if found is None or found[0] is not pdu_type:
            decoded = original(node, type_node, value_node, pdu_type)
            if len(substrate) <= memo.max_substrate:
                memo.put(key, (pdu_type, decoded.pdu))
            return decoded
        return document.create_and_append_node_from_pdu(value_node.document, found[1], value_node)

    return decode_value


def _memoized_uri_check(validator: general_name.GeneralNameUriSyntaxValidator, memo: LintMemo) -> Any:
    """`validator.validate_value` remembered by what it reads: name-constraints context and the URI.

    pkilint 0.13's `GeneralNameUriSyntaxValidator.validate_value` reads nothing else of the node
    and returns a bool from `validators.url` or `validators.domain`; an `ldap://` URI raises its
    NOTICE instead, which is never remembered, so it is raised again for every certificate.
    """
    original = validator.validate_value

    def validate_value(node: Any) -> Any:
        key = ("uri", general_name.is_nameconstraints_child_node(node), str(node.pdu))
        found = memo.get(key)
        if found is None:
            found = original(node)
            memo.put(key, found)
        return found

    return validate_value
