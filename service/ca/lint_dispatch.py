"""pkilint's validator walk with an index: each node is offered only the validators that can match it."""

from __future__ import annotations

from typing import Any

from pkilint import document, validation

from service.ca.lint_replay import PART_PATHS, PartReplay, decodes

_Candidates = tuple[tuple[int, validation.Validator], ...]
_Plan = tuple[tuple[validation.Validator, bool], ...]
_MAX_PLANS = 20_000


def _static_match(v: validation.Validator) -> bool:
    """True when `v.match(node)` reads nothing but `node.path` and the class of `node.pdu`.

    That is pkilint's own `NodeVisitor.match`, not overridden, with neither a path pattern, a
    predicate nor a PDU supertype (which compares tags and constraints) set.
    """
    return (type(v).match is document.NodeVisitor.match and getattr(v, "_path_re", None) is None
            and getattr(v, "_predicate", None) is None and getattr(v, "_pdu_supertype", None) is None)


def index_dispatch(container: validation.ValidatorContainer, replay: PartReplay | None = None) -> None:
    """Make `container` (and every container inside it) skip validators that cannot match a node.

    pkilint offers every node of the certificate (~350) to every validator of a container and
    lets `match` refuse; most of the lint time goes there. `NodeVisitor.match` first compares the
    node's path and PDU class, and every pkilint override of `match` calls it first and refuses
    when it does, so a validator whose `_path` or `_pdu_class` does not fit the node can be
    skipped without asking. The rest are asked as before, in their original order (decoders
    must run before the validators that read what they decoded), so the findings are the same;
    `tests/service/ca/test_lint_dispatch.py` and `test_lint_differential.py` check that against
    pkilint's own tree. Where `match` is pkilint's plain path-and-class test, its answer for a
    (path, class) is remembered too (`plan`). With `replay`, a walk that reaches the root of a
    part the leaf repeats (see `lint_replay`) is replayed from a record where one exists.
    """
    entries = list(enumerate(container.validators))
    by_path: dict[str, list[tuple[int, validation.Validator]]] = {}
    by_class = []
    for index, v in entries:
        if getattr(v, "_path", None) is not None:
            by_path.setdefault(v._path, []).append((index, v))
        else:
            by_class.append((index, v, getattr(v, "_pdu_class", None)))
        if isinstance(v, validation.ValidatorContainer):
            index_dispatch(v, replay)
    path_table = {path: tuple(found) for path, found in by_path.items()}
    class_table: dict[type, _Candidates] = {}
    plans: dict[tuple[str, type], _Plan] = {}

    def candidates(node: Any) -> _Candidates:
        pdu_type = type(node.pdu)
        found = class_table.get(pdu_type)
        if found is None:
            found = tuple((i, v) for i, v, cls in by_class if cls is None or issubclass(pdu_type, cls))
            class_table[pdu_type] = found  # bounded by the number of ASN.1 types
        extra = path_table.get(node.path)
        return found if extra is None else tuple(sorted(found + extra, key=lambda e: e[0]))

    def plan(node: Any) -> _Plan:
        """The validators to offer `node`: those whose `match` reads only the node's path and PDU
        class are asked once per (path, class) and then kept (no further asking) or dropped."""
        key = (node.path, type(node.pdu))
        found = plans.get(key)
        if found is None:
            found = tuple((v, not _static_match(v)) for _, v in candidates(node) if not _static_match(v) or v.match(node))
            if len(plans) < _MAX_PLANS:  # paths are bounded by the leaf's shape (at most 100 names)
                plans[key] = found
        return found

    decoding = decodes(container)

    def visit(node: Any, results: list[validation.ValidationResult]) -> None:
        for v, ask in plan(node):
            if not ask or v.match(node):
                result = v.validate_wrapper(node)
                if isinstance(result, list):
                    results += result
                else:
                    results.append(result)
        for child in node.children.values():
            validate_rec(child, results)

    def validate_rec(node: Any, results: list[validation.ValidationResult]) -> None:
        if replay is not None and node.path in PART_PATHS:
            parts = getattr(node.document, "certgate_parts", None)
            key = parts.get(node.path) if parts else None
            if key is not None and replay.walk(container, node, key, results, visit, decoding):
                return
        visit(node, results)

    container._validate_rec = validate_rec
    container._certgate_plan = plan
