"""Replays what pkilint's validators found in a part of a leaf that repeats byte for byte from leaf to leaf.

The issuer name, the signature algorithm and most extensions (key usage, EKU, basic constraints,
AKI, policies, CRL distribution points, AIA) are the same bytes in every leaf of one CA and key
type; only the serial, validity, subject, key, SKI, SAN and signature vary. A validator call
whose result depends only on such a part (its node's path and the nodes under the part's root)
gives the same findings for the same part bytes at the same path. So `PartReplay` records, the
second time a container's walk meets a part (path, DER bytes), what every validator call in it
did, and from then on replays that record instead of walking the part:

- a call that read nothing outside the part (`lint_trace` watches the part's nodes and those
  above it while the call runs) becomes its remembered findings, put back on the same node of
  the new leaf;
- a call that left the part (the key usage against the SPKI's key type, say) runs again, live,
  on the new leaf's node, and a `match` that left it is asked again;
- calls that found nothing leave nothing to replay; the order of all results is kept.

A decoding container's walk is not recorded that way: its decoders build the part's node tree.
The second time it meets a part, the finished subtree becomes a template (`lint_parts`), and a
leaf whose part has a template gets a copy of it and no decoding walk of that part. The tree is
the same for the same bytes: each decoder reads and writes only below the node it matched, and
no decoder matches above a part root (`decoders_stay_below` checks that when the linter is
built, or replay is off). A record or template is kept only when nothing surprised the recorder
(an exception, a node it did not know, a finding on a node outside the part, a subtree changed
after its decoding walk); otherwise that walk's results are pkilint's own and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from pkilint import document, validation
from pkilint.pkix.certificate import certificate_transparency
from pyasn1_alt_modules import rfc5280

from service.ca.lint_memo import PART_PATHS, LintMemo
from service.ca.lint_parts import PartTemplate, flatten, same_tree
from service.ca.lint_trace import PartTrace

__all__ = ["PART_PATHS", "PartReplay", "decoders_stay_below", "decodes"]

# The values above the part roots in a spliced leaf (`SplicedDecoder` builds them from these schemas).
_ABOVE_PARTS = (rfc5280.Certificate, rfc5280.TBSCertificate, rfc5280.Extensions)
# Programs per container and part: a handful of parts per CA, key type and certificate type.
DEFAULT_MAX_PROGRAMS = 1024

_CACHED, _LIVE, _ASK = 0, 1, 2
_Event = tuple[Any, ...]


def _extend(results: list[Any], result: Any) -> None:
    if isinstance(result, list):
        results += result
    else:
        results.append(result)


def decoders_stay_below(container: validation.ValidatorContainer) -> bool:
    """True when every decoder in `container` reads and writes only below the node it matched, matches
    by one ASN.1 class or path that is not above a part (certificate, TBS, extensions), and a
    container that decodes holds nothing but decoders (its walk of a copied part is skipped).

    pkilint's `ValueDecoder` navigates its relative type and value paths downwards (none with
    `^` or a document anchor `:`) and appends to the value node; the SCT list decoder sets an
    attribute on its own node's value. Anything else (a decoder this code was not written for)
    turns replay off.
    """
    for v in container.validators:
        if isinstance(v, validation.ValidatorContainer):
            if not decoders_stay_below(v):
                return False
        elif isinstance(v, validation.DecodingValidator):
            decoder = v.decode_func
            if not isinstance(decoder, document.ValueDecoder) or any(
                    "^" in p or ":" in p for p in (decoder.type_path, decoder.value_path)) or not _below_parts(v):
                return False
        elif isinstance(v, certificate_transparency.SctListExtensionDecodingValidator):
            if not _below_parts(v):
                return False
        elif decodes(container):
            return False
    return True


def _below_parts(v: validation.Validator) -> bool:
    """`v` matches (pkilint's own `match`, no pattern or predicate) by a path that is no ancestor of a
    part, or by a class no ancestor's value has."""
    if type(v).match is not document.NodeVisitor.match or any(
            getattr(v, name, None) is not None for name in ("_path_re", "_predicate", "_pdu_supertype")):
        return False
    path, cls = getattr(v, "_path", None), getattr(v, "_pdu_class", None)
    if path is not None:
        return not any(part.startswith(path + ".") for part in PART_PATHS)
    return cls is not None and not any(issubclass(above, cls) for above in _ABOVE_PARTS)


def decodes(container: validation.ValidatorContainer) -> bool:
    """True when `container` itself holds a decoder (its walks build the tree and are never recorded)."""
    return any(isinstance(v, (validation.DecodingValidator, certificate_transparency.SctListExtensionDecodingValidator))
               for v in container.validators)


class PartReplay:
    """Remembered validator results per (container, part path, part DER), bounded, shared by threads."""

    def __init__(self, max_programs: int = DEFAULT_MAX_PROGRAMS) -> None:
        self.programs = LintMemo(max_entries=max_programs)
        self.replayed = 0  # statistics for tests and the benchmark (not locked: approximate under threads)
        self.recorded = 0
        self.templates_kept = 0

    def templates(self, decoder: validation.ValidatorContainer, part_der: dict[str, bytes]) -> dict[str, PartTemplate]:
        """The node-tree templates `decoder`'s walks left for these parts (path -> template)."""
        found = {}
        for path, key in part_der.items():
            entry = self.programs.get(("tree", id(decoder), path, key))
            if entry is not None and entry[0] is decoder:
                found[path] = entry[1]
        return found

    def walk(self, container: validation.ValidatorContainer, root: Any, key: bytes, results: list[Any],
             visit: Any, decoding: bool) -> bool:
        """Walk `root`'s part for `container` from a record, or record it; False: walk it as usual.

        `visit(node, results)` is the container's own walk of one node and its subtree; `decoding`
        says whether `container` holds decoders (`decodes`).
        """
        path = root.path
        if decoding:
            return self._decoding_walk(container, root, key, results, visit)
        found = self.programs.get((id(container), path, key))
        if found is not None and found[0] is container:
            _replay(found[1], root, results)
            self.replayed += 1
            return True
        seen = ("seen", id(container), path, key)
        if self.programs.get(seen) is None:
            self.programs.put(seen, (container,))  # record the second time only: most parts never come back
            return False
        program = _Recorder().record(container, root, results)
        if program is not None:
            self.programs.put((id(container), path, key), (container, program))
            self.recorded += 1
        return True

    def _decoding_walk(self, container: validation.ValidatorContainer, root: Any, key: bytes, results: list[Any],
                       visit: Any) -> bool:
        """A decoding container's walk of a part: nothing to do for a copied part but to give what its
        decoders found; the second time a part is met, its finished subtree is kept as a template."""
        doc = root.document
        path = root.path
        template = doc.certgate_copied.get(path)
        if template is not None and template.decoder is container:
            for at, validator, descriptions in template.findings:  # only where a decode failed
                results.append(validation.ValidationResult(validator, _nth(root, at), list(descriptions)))
            return True
        seen = ("seen", id(container), path, key)
        if self.programs.get(seen) is None:
            self.programs.put(seen, (container,))
            return False
        start = len(results)
        visit(root, results)
        flat, index = flatten(root)
        findings = []
        for each in results[start:]:
            if each.finding_descriptions:
                at = index.get(id(each.node))
                if at is None:
                    return True  # a finding outside the part: no template
                findings.append((at, each.validator, tuple(each.finding_descriptions)))
        doc.certgate_pending.append((container, root, key, PartTemplate(container, flat, tuple(findings))))
        return True

    def finish(self, doc: Any) -> None:
        """Keep the templates taken during this lint whose subtrees nothing changed since."""
        for container, root, key, template in getattr(doc, "certgate_pending", ()):
            if same_tree(flatten(root)[0], template.flat):
                self.programs.put(("tree", id(container), root.path, key), (container, template))
                self.templates_kept += 1
        doc.certgate_pending = []


def _nth(root: Any, at: int) -> Any:
    """The node at pre-order index `at` of `root`'s subtree."""
    stack = [root]
    while stack:
        node = stack.pop()
        if at == 0:
            return node
        at -= 1
        stack.extend(reversed(node.children.values()))
    raise IndexError(at)


def _replay(program: tuple[_Event, ...], root: Any, results: list[Any]) -> None:
    for kind, relative, validator, descriptions in program:
        node = root
        for name in relative:
            node = node.children[name]
        if kind == _CACHED:
            results.append(validation.ValidationResult(validator, node, list(descriptions)))
        elif kind == _LIVE or validator.match(node):
            _extend(results, validator.validate_wrapper(node))


class _Recorder:
    """One container's walk of one part, run as pkilint's would be, with every call's reach traced."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.ok = True
        self._index: dict[int, tuple[str, ...]] = {}
        self._trace: PartTrace | None = None

    def record(self, container: validation.ValidatorContainer, root: Any, results: list[Any]
               ) -> tuple[_Event, ...] | None:
        """Walk `root` for `container` into `results`; the events to replay, or None when they cannot be trusted."""
        self._trace = PartTrace(root)
        self._index = self._trace.index
        try:
            self._walk(container, root, (), results)
        finally:
            self._trace.close()
        return tuple(self.events) if self.ok and not self._trace.foreign else None

    def _traced(self, call: Any, node: Any) -> tuple[Any, bool]:
        assert self._trace is not None
        return self._trace.call(call, node)

    def _walk(self, container: validation.ValidatorContainer, node: Any, relative: tuple[str, ...],
              results: list[Any]) -> None:
        if id(node) not in self._index:
            self.ok = False  # a node made during the walk: not traced
        for v, ask in container._certgate_plan(node):
            if ask:
                matched, left = self._traced(v.match, node)
                if left:
                    self.events.append((_ASK, relative, v, None))
                    if matched:
                        _extend(results, v.validate_wrapper(node))
                    continue
                if not matched:
                    continue
            if isinstance(v, validation.ValidatorContainer):
                self._nested(v, node, relative, results)
                continue
            result, left = self._traced(v.validate_wrapper, node)
            _extend(results, result)
            if left:
                self.events.append((_LIVE, relative, v, None))
                continue
            for each in result if isinstance(result, list) else [result]:
                if each.finding_descriptions:
                    where = self._index.get(id(each.node))
                    if where is None:
                        self.ok = False
                    else:
                        self.events.append((_CACHED, where, each.validator, tuple(each.finding_descriptions)))
        for name, child in node.children.items():
            self._walk(container, child, (*relative, name), results)

    def _nested(self, v: validation.ValidatorContainer, node: Any, relative: tuple[str, ...],
                results: list[Any]) -> None:
        """A container matched inside the part: its walk's events go inline (its results are a list
        the caller extends with, so the order is the same)."""
        if getattr(v, "_certgate_plan", None) is None or decodes(v):
            self.ok = False
            _extend(results, v.validate_wrapper(node))
            return
        inner: list[Any] = []
        try:
            self._walk(v, node, relative, inner)
        except Exception:  # noqa: BLE001 - pkilint's container turns it into one finding: ask it for that
            self.ok = False
            _extend(results, v.validate_wrapper(node))
            return
        results += inner
