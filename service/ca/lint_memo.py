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
from pyasn1_alt_modules import rfc5280
from pyasn1_fasder import decode_der

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


_VERSION, _INTEGER, _BIT_STRING, _SEQUENCE, _EXTENSIONS = 0xA0, 0x02, 0x03, 0x30, 0xA3
# TBSCertificate's components in order (issuerUniqueID/subjectUniqueID never: such a leaf is
# decoded whole), and which of them every leaf of one CA repeats byte for byte.
_TBS_SHAPE = (_VERSION, _INTEGER, _SEQUENCE, _SEQUENCE, _SEQUENCE, _SEQUENCE, _SEQUENCE, _EXTENSIONS)
_TBS_REPEATED = frozenset({0, 2, 3})  # version, signature algorithm, issuer
_SAN_OID = b"\x06\x03\x55\x1d\x11"  # 2.5.29.17, as it opens a subjectAltName extension
# Where those parts sit in pkilint's node tree (for `lint_replay`): the repeated TBS parts but the
# version (one node: nothing to gain), the outer signature algorithm, every extension but the SAN.
_EXTENSION_PATH = "certificate.tbsCertificate.extensions"
REPEATED_TBS_PARTS = {2: "certificate.tbsCertificate.signature", 3: "certificate.tbsCertificate.issuer"}
SIGNATURE_ALGORITHM_PART = "certificate.signatureAlgorithm"
MAX_EXTENSIONS = 64
PART_PATHS = frozenset([*REPEATED_TBS_PARTS.values(), SIGNATURE_ALGORITHM_PART,
                        *(f"{_EXTENSION_PATH}.{i}" for i in range(MAX_EXTENSIONS))])


class SplicedDecoder:
    """Decodes a leaf's DER as pkilint's loader does, the parts that repeat from leaf to leaf taken from `memo`.

    pyasn1-fasder's decode of a whole certificate builds every pyasn1 value anew (about a
    third of a lint): the issuer, the algorithm identifiers and most extensions are the same
    bytes in every leaf of the CA. This decoder walks the outer DER itself (certificate,
    TBSCertificate, extensions: strict DER lengths, the exact component shape certgate's profile
    has), decodes each component separately against the very schema object the whole decode
    would use, reuses the value remembered for the same (schema, bytes) and assembles the
    `Certificate` as pyasn1's decoder does (components set in place, no constraint checks).
    Anything else (another shape, non-minimal lengths, trailing bytes, a component that fails)
    returns None and the caller decodes the whole certificate with pkilint's own loader, whose
    error messages stay pkilint's. A fresh value enters the memo only through `remember`, which
    the linter calls after that value's first node tree was built and linted (see the module
    docstring on the one write pyasn1 makes on a read).
    """

    def __init__(self, memo: LintMemo) -> None:
        self._memo = memo
        self._cert_spec = rfc5280.Certificate()
        self._tbs_spec = self._cert_spec.componentType[0].asn1Object
        self._tbs_parts = [self._tbs_spec.componentType[i].asn1Object for i in (0, 1, 2, 3, 4, 5, 6, 9)]
        self._extensions_spec = self._tbs_parts[7]
        self._extension_spec = self._extensions_spec.componentType
        self._alg_spec = self._cert_spec.componentType[1].asn1Object
        self._sig_spec = self._cert_spec.componentType[2].asn1Object

    def decode(self, der: bytes, fresh: list[tuple[tuple[Any, ...], Any]],
               part_der: dict[str, bytes] | None = None) -> Any | None:
        """The decoded `Certificate`, or None where only a whole decode gives pkilint's answer.

        `fresh` receives (memo key, value) for each value decoded anew that may be remembered, and
        `part_der` the DER of each part that repeats from leaf to leaf, by its pkilint node path.
        """
        found: dict[str, bytes] = {}
        try:
            outer = _children(der, 0, len(der), whole=True)
            if outer is None or [der[t[0]] for t in outer] != [_SEQUENCE, _SEQUENCE, _BIT_STRING]:
                return None
            tbs_tlv, alg_tlv, sig_tlv = outer
            parts = _children(der, tbs_tlv[1], tbs_tlv[2])
            if parts is None or tuple(der[t[0]] for t in parts) != _TBS_SHAPE:
                return None
            tbs = self._tbs_spec.clone()
            for index, (start, _, end) in enumerate(parts):
                spec = self._tbs_parts[index]
                if index == 7:
                    value = self._extensions(der, parts[7], fresh, found)
                    if value is None:
                        return None
                else:
                    value = self._part(der[start:end], spec, index in _TBS_REPEATED, fresh)
                    if index in REPEATED_TBS_PARTS:
                        found[REPEATED_TBS_PARTS[index]] = der[start:end]
                tbs.setComponentByPosition(index if index < 7 else 9, value, verifyConstraints=False,
                                           matchTags=False, matchConstraints=False)
            cert = self._cert_spec.clone()
            cert.setComponentByPosition(0, tbs, verifyConstraints=False, matchTags=False, matchConstraints=False)
            for index, ((start, _, end), spec, repeated) in enumerate(
                    ((alg_tlv, self._alg_spec, True), (sig_tlv, self._sig_spec, False)), start=1):
                value = self._part(der[start:end], spec, repeated, fresh)
                cert.setComponentByPosition(index, value, verifyConstraints=False, matchTags=False,
                                            matchConstraints=False)
            found[SIGNATURE_ALGORITHM_PART] = der[alg_tlv[0]:alg_tlv[2]]
            if part_der is not None:
                part_der.update(found)
            return cert
        except Exception:  # noqa: BLE001 - any surprise: pkilint's own whole decode decides
            return None

    def _extensions(self, der: bytes, tlv: tuple[int, int, int], fresh: list[tuple[tuple[Any, ...], Any]],
                    found: dict[str, bytes]) -> Any:
        inner = _children(der, tlv[1], tlv[2])
        if inner is None or len(inner) != 1 or der[inner[0][0]] != _SEQUENCE:
            return None
        items = _children(der, inner[0][1], inner[0][2])
        if items is None or not items:
            return None
        extensions = self._extensions_spec.clone()
        for index, (start, _, end) in enumerate(items):
            substrate = der[start:end]
            repeated = substrate.find(_SAN_OID, 0, 8) == -1  # a leaf's own names: never seen again
            if repeated and index < MAX_EXTENSIONS:
                found[f"{_EXTENSION_PATH}.{index}"] = substrate
            extensions.setComponentByPosition(index, self._part(substrate, self._extension_spec, repeated, fresh),
                                              verifyConstraints=False, matchTags=False, matchConstraints=False)
        return extensions

    def _part(self, substrate: bytes, spec: Any, repeated: bool, fresh: list[tuple[tuple[Any, ...], Any]]) -> Any:
        if not repeated or len(substrate) > self._memo.max_substrate:
            return decode_der(substrate, asn1Spec=spec)[0]
        key = ("part", id(spec), substrate)
        found = self._memo.get(key)
        if found is not None and found[0] is spec:
            return found[1]
        value = decode_der(substrate, asn1Spec=spec)[0]
        fresh.append((key, (spec, value)))
        return value

    def remember(self, fresh: list[tuple[tuple[Any, ...], Any]]) -> None:
        """Put the values of a linted certificate into the memo (after their node trees were built)."""
        for key, entry in fresh:
            self._memo.put(key, entry)


def _children(der: bytes, start: int, end: int, *, whole: bool = False) -> list[tuple[int, int, int]] | None:
    """The (tag offset, content offset, end) of each DER element in der[start:end]; None unless strict DER.

    With `whole`, der[start:end] must be exactly one element, and its children are returned.
    """
    found = []
    at = start
    while at < end:
        if at + 2 > end or der[at] & 0x1F == 0x1F:
            return None  # truncated, or a multi-byte tag (none in a certificate's outer structure)
        length = der[at + 1]
        content = at + 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or content + count > end or der[content] == 0:
                return None  # indefinite or non-minimal length
            length = int.from_bytes(der[content:content + count], "big")
            if length < 0x80:
                return None
            content += count
        if content + length > end:
            return None
        found.append((at, content, content + length))
        at = content + length
    if whole:
        if len(found) != 1 or found[0][2] != end:
            return None
        return _children(der, found[0][1], found[0][2])
    return found
