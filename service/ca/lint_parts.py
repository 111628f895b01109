"""Node trees of the parts every leaf repeats, built once by pkilint's decoders and copied for the next leaf.

pkilint builds a `PDUNode` per ASN.1 value of the certificate and its decoders hang the decoded
extension and name values under them: some 80 of a leaf's 110 nodes sit in parts (issuer,
signature algorithm, extensions but the SAN) that are the same bytes in every leaf of one CA.
A `PartTemplate` is such a part's finished subtree (after the decoding walk, with what the
decoders found there), taken from one leaf and kept only if nothing changed it until the end of
that leaf's lint; the next leaf with the same part bytes at the same path gets a copy: new
nodes, the same names and paths, the same (never written) pyasn1 values, this leaf's document and
parent. `build_tree` is pkilint's `create_and_append_node_from_pdu` for the whole certificate,
with the copies put in where a template fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pkilint import document
from pyasn1.type.univ import Choice, SequenceAndSetBase, SequenceOfAndSetOfBase

# The nodes above the parts, built here so that a part can be copied in (below them pkilint builds).
_SKELETON = frozenset({"certificate", "certificate.tbsCertificate", "certificate.tbsCertificate.extensions"})
_Flat = tuple[tuple[str, str, Any, int], ...]


@dataclass(frozen=True)
class PartTemplate:
    """A part's decoded subtree: (name, path, pdu, parent's index) in pkilint's child order, and the
    findings of `decoder` (the decoding container whose walk built it) there as (node index,
    validator, finding descriptions)."""

    decoder: Any
    flat: _Flat
    findings: tuple[tuple[int, Any, tuple[Any, ...]], ...]


def flatten(root: Any) -> tuple[_Flat, dict[int, int]]:
    """`root`'s subtree in pre-order, and each node's index by `id` (the root's parent index is -1)."""
    flat: list[tuple[str, str, Any, int]] = []
    index: dict[int, int] = {}
    stack: list[tuple[Any, int]] = [(root, -1)]
    while stack:
        node, parent = stack.pop()
        index[id(node)] = len(flat)
        flat.append((node.name, node.path, node.pdu, parent))
        here = len(flat) - 1
        stack.extend((child, here) for child in reversed(node.children.values()))
    return tuple(flat), index


def same_tree(a: _Flat, b: _Flat) -> bool:
    """Equal shape, names and paths, and the very same pyasn1 values."""
    return len(a) == len(b) and all(x[0] == y[0] and x[1] == y[1] and x[2] is y[2] and x[3] == y[3]
                                    for x, y in zip(a, b))


def copy_part(template: PartTemplate, doc: document.Document, parent: Any) -> list[Any]:
    """New nodes for `template` under `parent` (not yet appended to it), in pre-order."""
    nodes: list[Any] = []
    new = object.__new__
    node_class = document.PDUNode
    for name, path, pdu, up in template.flat:
        node = new(node_class)
        owner = parent if up < 0 else nodes[up]
        node.__dict__ = {"document": doc, "name": name, "pdu": pdu, "parent": owner, "path": path, "children": {}}
        if up >= 0:
            owner.children[name] = node
        nodes.append(node)
    return nodes


def build_tree(doc: document.Document, pdu: Any, templates: dict[str, PartTemplate],
               copied: dict[str, PartTemplate]) -> Any:
    """The certificate's root node as `create_and_append_node_from_pdu(doc, pdu)` builds it, parts
    with a template (whose root value is this very `pdu`'s component) copied from it (into `copied`)."""
    return _node(doc, document.get_node_name_for_pdu(pdu), pdu, None, templates, copied)


def _node(doc: document.Document, name: str, pdu: Any, parent: Any, templates: dict[str, PartTemplate],
          copied: dict[str, PartTemplate]) -> Any:
    path = name if parent is None else f"{parent.path}.{name}"
    template = templates.get(path)
    if template is not None and template.flat[0][2] is pdu:
        copied[path] = template
        return copy_part(template, doc, parent)[0]
    if path not in _SKELETON:
        return document.PDUNode(doc, name, pdu, parent)
    node = object.__new__(document.PDUNode)
    node.__dict__ = {"document": doc, "name": name, "pdu": pdu, "parent": parent, "path": path}
    # PDUNode._generate_child_nodes, one level, with the same reads of `pdu` in the same order.
    if isinstance(pdu, Choice):
        child = pdu.getName()
        node.children = {child: _node(doc, child, pdu.getComponent(), node, templates, copied)}
    elif isinstance(pdu, SequenceOfAndSetOfBase):
        node.children = {str(i): _node(doc, str(i), c, node, templates, copied) for i, c in enumerate(pdu)}
    elif isinstance(pdu, SequenceAndSetBase):
        node.children = {n: _node(doc, n, v, node, templates, copied) for n, v in pdu.items() if v.isValue}
    else:
        node.children = {}
    return node
