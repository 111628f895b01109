"""Traces one pkilint validator call on a part of a leaf: did it read anything the part's bytes do not fix?

A validator gets a node and can leave that node's part only through a node attribute: `document`
(of any node), or `parent` past the part's root and then anything of the nodes above. While a
`PartTrace` is open, the part's nodes and the nodes above it (the certificate, the TBS, the
extensions list) have classes that notice such reads (only in the thread that traces; the
nodes belong to one document, linted by one thread). Of the nodes above, the `name`, `path` and
`parent` follow from the part's path and may be read; their `pdu` is handed out as a probe, an
empty object of a subclass of the value's class, which answers `isinstance` (all pkilint asks
of those values: "is this under a NameConstraints?") as the value would and marks the call as
having left on any other use (answering it from the value). A call that left after a probe was
handed out is run again with the real values, so its result is pkilint's own.
"""

from __future__ import annotations

import threading
from typing import Any

from pkilint import document

_local = threading.local()
_probe_classes: dict[type, type] = {}
_PLAIN_ABOVE = frozenset({"name", "path", "parent", "__class__"})


def _left() -> None:
    trace = getattr(_local, "trace", None)
    if trace is not None:
        trace.left = True


class _Inside(document.PDUNode):  # type: ignore[misc]
    """A node of the traced part: reading its `document` leaves the part."""

    def __getattribute__(self, name: str) -> Any:
        if name == "document" or name == "__dict__":
            _left()
        return object.__getattribute__(self, name)


class _Above(document.PDUNode):  # type: ignore[misc]
    """A node above the traced part: its name, path and parent are fixed by the part's path, its
    value is probed, anything else leaves the part."""

    def __getattribute__(self, name: str) -> Any:
        if name in _PLAIN_ABOVE:
            return object.__getattribute__(self, name)
        trace = getattr(_local, "trace", None)
        if name == "pdu" and trace is not None and trace.probing:
            trace.probed = True
            return trace.probe(self, object.__getattribute__(self, "pdu"))
        _left()
        return object.__getattribute__(self, name)


def _real(probe: Any) -> Any:
    return object.__getattribute__(probe, "probed_value")


def _used(probe: Any) -> Any:
    """The value behind `probe`, for a use that leaves the part."""
    _left()
    return _real(probe)


def _probe_getattribute(self: Any, name: str) -> Any:
    if name == "__class__":
        return type(self).probed_class
    return getattr(_used(self), name)


# Every other use of a probe leaves the part and is answered by the value itself (the call is run
# again on the real values anyway; answering keeps it from failing and logging meanwhile).
_PROBE_USES: dict[str, Any] = {
    "__hash__": lambda self: hash(_used(self)),
    "__bool__": lambda self: bool(_used(self)),
    "__eq__": lambda self, other: _used(self) == other,
    "__ne__": lambda self, other: _used(self) != other,
    "__len__": lambda self: len(_used(self)),
    "__iter__": lambda self: iter(_used(self)),
    "__contains__": lambda self, item: item in _used(self),
    "__getitem__": lambda self, key: _used(self)[key],
    "__str__": lambda self: str(_used(self)),
    "__repr__": lambda self: repr(_used(self)),
    "__format__": lambda self, spec: format(_used(self), spec),
}


def _probe_class(cls: type) -> type:
    """A subclass of `cls` whose instances notice every use but `isinstance`."""
    found = _probe_classes.get(cls)
    if found is None:
        found = type(f"Probe{cls.__name__}", (cls,), {"__getattribute__": _probe_getattribute,
                                                      "probed_class": cls, **_PROBE_USES})
        _probe_classes[cls] = found  # one per ASN.1 class above a part: a handful
    return found


class PartTrace:
    """Open on a part's root: `call` runs a validator's `match` or `validate_wrapper` and says whether it left."""

    def __init__(self, root: Any) -> None:
        self.left = False
        self.probing = False
        self.probed = False
        self.foreign = False  # a node class this code does not know: the caller keeps nothing
        self.index: dict[int, tuple[str, ...]] = {}  # id(node) -> path below the root
        self._probes: dict[int, Any] = {}
        self._classes: list[tuple[Any, type]] = []
        stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
        while stack:
            node, relative = stack.pop()
            self.index[id(node)] = relative
            self._swap(node, _Inside)
            stack.extend((child, (*relative, name)) for name, child in node.children.items())
        above = root.parent
        while above is not None:
            self._swap(above, _Above)
            above = above.parent

    def _swap(self, node: Any, cls: type) -> None:
        self._classes.append((node, type(node)))
        if type(node) is not document.PDUNode:
            self.foreign = True
        else:
            node.__class__ = cls

    def close(self) -> None:
        """Give every node its class back."""
        for node, cls in self._classes:
            node.__class__ = cls
        self._classes = []

    def probe(self, node: Any, value: Any) -> Any:
        """The probe for `node`'s value (the same one each time in one trace, as the value would be)."""
        found = self._probes.get(id(node))
        if found is None:
            found = self._probes[id(node)] = object.__new__(_probe_class(type(value)))
            object.__setattr__(found, "probed_value", value)
        return found

    def call(self, function: Any, node: Any) -> tuple[Any, bool]:
        """`function(node)` and whether it read outside the part (then its result is from real values)."""
        self.left = self.probed = False
        self.probing = True
        _local.trace = self
        try:
            out = function(node)
            if self.left and self.probed:
                self.probing = False
                out = function(node)
            return out, self.left
        finally:
            _local.trace = None
