"""RFC 6962 Merkle hash trees: roots, inclusion and consistency proofs, and their verifiers.

Everything here works on leaf hashes (32 bytes each, `leaf_hash(data)`), never on raw entries,
so the tree never has to see the audit rows themselves.

`MerkleTree` keeps every complete subtree's hash in one `bytearray` per level, 64 bytes per
leaf in all, so once it is built (one hash per node) the root of any earlier size costs
O(log n) hashes and a proof O(log^2 n). `root_hash` hashes level by level and keeps nothing;
`MerkleFrontier` keeps only the right edge, for streaming checks.

The verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 and share nothing with the provers
but the two hash functions: a bug in one side cannot hide a bug in the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the prefix keeps a leaf from ever passing for an inner node."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 tree that answers roots and proofs for any size up to its own."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Build the tree level by level from `leaf_hashes`.

        Raises:
            ValueError: a leaf hash is not 32 bytes.
        """
        level = list(leaf_hashes)
        if not _all_hashes(level):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        self._size = len(level)
        self._levels: list[bytearray] = [bytearray(b"".join(level))]
        while len(level) > 1:
            pairs = iter(level)
            level = [hashlib.sha256(_NODE_PREFIX + a + b).digest() for a, b in zip(pairs, pairs)]
            self._levels.append(bytearray(b"".join(level)))

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its index.

        Raises:
            ValueError: the leaf hash is not 32 bytes.
        """
        _check_hash(leaf_hash)
        index = self._size
        self._levels[0] += leaf_hash
        node, position, level = leaf_hash, index, 0
        # Each odd position completes a pair: hash it upwards while the parents complete too.
        while position & 1:
            left = self._node(level, position - 1)
            node = node_hash(left, node)
            level += 1
            position >>= 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node
        self._size += 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order.

        Raises:
            ValueError: a leaf hash is not 32 bytes.
        """
        for item in leaf_hashes:
            self.append(item)

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`.

        Raises:
            ValueError: `index` is outside the tree.
        """
        if not 0 <= index < self._size:
            raise ValueError(f"leaf index {index} outside a tree of {self._size} leaves")
        return self._node(0, index)

    def root(self, tree_size: int | None = None) -> bytes:
        """MTH(D[0:tree_size]); the whole tree when `tree_size` is None.

        Raises:
            ValueError: `tree_size` is negative or larger than the tree.
        """
        size = self._check_size(tree_size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:tree_size]), bottom first (RFC 6962 section 2.1.1).

        Raises:
            ValueError: `tree_size` is out of range or `index` is not below it.
        """
        size = self._check_size(tree_size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} outside a tree of size {size}")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index - start < k:
                path.append(self._range_hash(start + k, end))
                end = start + k
            else:
                path.append(self._range_hash(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """PROOF(first, D[0:second]) (RFC 6962 section 2.1.2); empty when first is 0 or second.

        Raises:
            ValueError: `second` is out of range or `first` is not within 0..second.
        """
        size = self._check_size(second)
        if not 0 <= first <= size:
            raise ValueError(f"first size {first} outside 0..{size}")
        if first in (0, size):
            return []
        path: list[bytes] = []
        start, end, m, whole = 0, size, first, True
        while True:
            n = end - start
            if m == n:
                # SUBPROOF's base case: the old root is only sent when the verifier can't know it.
                if not whole:
                    path.append(self._range_hash(start, end))
                break
            k = _largest_power_of_two_below(n)
            if m <= k:
                path.append(self._range_hash(start + k, end))
                end = start + k
            else:
                path.append(self._range_hash(start, start + k))
                start += k
                m -= k
                whole = False
        path.reverse()
        return path

    def _check_size(self, tree_size: int | None) -> int:
        if tree_size is None:
            return self._size
        if not 0 <= tree_size <= self._size:
            raise ValueError(f"tree size {tree_size} outside 0..{self._size}")
        return tree_size

    def _node(self, level: int, position: int) -> bytes:
        offset = position * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size; recursion depth is log2 of the span."""
        span = end - start
        if span & (span - 1) == 0 and start % span == 0:
            level = span.bit_length() - 1
            return self._node(level, start >> level)
        k = _largest_power_of_two_below(span)
        return node_hash(self._range_hash(start, start + k), self._range_hash(start + k, end))


class MerkleFrontier:
    """The roots of the complete subtrees on the right edge: a tree's root in O(log n) memory.

    For streaming checks over millions of leaves where no proof is needed, only roots.
    """

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash.

        Raises:
            ValueError: the leaf hash is not 32 bytes.
        """
        _check_hash(leaf_hash)
        node, position = leaf_hash, self._size
        while position & 1:
            node = node_hash(self._stack.pop(), node)
            position >>= 1
        self._stack.append(node)
        self._size += 1

    def root(self) -> bytes:
        """MTH of every leaf appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        root = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            root = node_hash(left, root)
        return root


def root_hash(leaf_hashes: Sequence[bytes], tree_size: int | None = None) -> bytes:
    """MTH of the first `tree_size` leaf hashes (all of them when None).

    Raises:
        ValueError: `tree_size` is out of range or a leaf hash is not 32 bytes.
    """
    size = _check_prefix(leaf_hashes, tree_size)
    level = list(leaf_hashes[:size])
    if not _all_hashes(level):
        raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
    if not level:
        return EMPTY_ROOT
    # Pair left to right; an odd node out moves up unchanged. This builds exactly the RFC's
    # split-at-the-largest-power-of-two tree, without recursion and without keeping levels.
    while len(level) > 1:
        pairs = iter(level)
        parents = [hashlib.sha256(_NODE_PREFIX + a + b).digest() for a, b in zip(pairs, pairs)]
        if len(level) & 1:
            parents.append(level[-1])
        level = parents
    return bytes(level[0])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree of the first `tree_size` leaf hashes.

    Raises:
        ValueError: `tree_size` or `index` is out of range, or a leaf hash is not 32 bytes.
    """
    size = _check_prefix(leaf_hashes, tree_size)
    return MerkleTree(leaf_hashes[:size]).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """The proof that the tree of size `first` is a prefix of the tree of size `second`.

    Raises:
        ValueError: `first` or `second` is out of range, or a leaf hash is not 32 bytes.
    """
    size = _check_prefix(leaf_hashes, second)
    return MerkleTree(leaf_hashes[:size]).consistency_proof(first)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows `leaf_hash` at `index` in the tree of `tree_size` with `root`.

    RFC 9162 section 2.1.3.2. Untrusted input is answered with False, never an exception.
    """
    if not 0 <= index < tree_size or not _all_hashes([leaf_hash, root, *proof]):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (first, first_root) is a prefix of (second, second_root).

    RFC 9162 section 2.1.4.2, extended to the trivial cases: equal sizes need equal roots and
    an empty proof; an empty first tree (whose root must be SHA-256 of nothing) needs an empty
    proof. Untrusted input is answered with False, never an exception.
    """
    if not 0 <= first <= second or not _all_hashes([first_root, second_root, *proof]):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        # The old tree is a complete subtree of the new one: its root is the proof's first node.
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def _check_hash(value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ValueError(f"a hash must be {HASH_SIZE} bytes")


def _all_hashes(values: Iterable[object]) -> bool:
    return all(isinstance(v, bytes | bytearray) and len(v) == HASH_SIZE for v in values)


def _check_prefix(leaf_hashes: Sequence[bytes], tree_size: int | None) -> int:
    if tree_size is None:
        return len(leaf_hashes)
    if not 0 <= tree_size <= len(leaf_hashes):
        raise ValueError(f"tree size {tree_size} outside 0..{len(leaf_hashes)}")
    return tree_size
