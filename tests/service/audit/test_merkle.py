"""RFC 6962 Merkle trees: published vectors, a naive reference for sizes 1..70, tampered proofs."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# The reference tree used by every CT implementation (RFC 6962 test data, as in
# google/certificate-transparency and transparency-dev/merkle testonly/constants.go).
RFC_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
RFC_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
RFC_LEAF_HASHES = [leaf_hash(d) for d in RFC_LEAVES]

# (0-based index, tree size, audit path): transparency-dev/merkle proof/verify_test.go, whose
# table numbers leaves from 1.
RFC_INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip

RFC_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


# --- The naive reference: RFC 6962 section 2.1 transcribed, recursion and all. ---


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:])).digest()


def naive_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return naive_path(m, d[:k]) + [naive_mth(d[k:])]
    return naive_path(m - k, d[k:]) + [naive_mth(d[:k])]


def naive_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [naive_mth(d)]
    k = _k(n)
    if m <= k:
        return naive_subproof(m, d[:k], b) + [naive_mth(d[k:])]
    return naive_subproof(m - k, d[k:], False) + [naive_mth(d[:k])]


def naive_proof(m: int, d: list[bytes]) -> list[bytes]:
    return naive_subproof(m, d, True)


def random_leaves(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [leaf_hash(rng.randbytes(rng.randrange(0, 20))) for _ in range(n)]


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# --- Published vectors. ---


def test_hash_primitives_are_rfc6962() -> None:
    assert EMPTY_ROOT.hex() == RFC_ROOTS[0]
    assert leaf_hash(b"").hex() == RFC_ROOTS[1]
    assert node_hash(RFC_LEAF_HASHES[0], RFC_LEAF_HASHES[1]).hex() == RFC_ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_reference_tree(size: int) -> None:
    assert root_hash(RFC_LEAF_HASHES, size).hex() == RFC_ROOTS[size]
    assert root_hash(RFC_LEAF_HASHES[:size]).hex() == RFC_ROOTS[size]
    assert MerkleTree(RFC_LEAF_HASHES).root(size).hex() == RFC_ROOTS[size]
    assert naive_mth(RFC_LEAF_HASHES[:size]).hex() == RFC_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), RFC_INCLUSION)
def test_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(RFC_LEAF_HASHES, index, size)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(RFC_ROOTS[size])
    assert verify_inclusion(RFC_LEAF_HASHES[index], index, size, proof, root)


@pytest.mark.parametrize(("first", "second", "path"), RFC_CONSISTENCY)
def test_consistency_vectors(first: int, second: int, path: list[str]) -> None:
    proof = consistency_proof(RFC_LEAF_HASHES, first, second)
    assert [p.hex() for p in proof] == path
    first_root, second_root = bytes.fromhex(RFC_ROOTS[first]), bytes.fromhex(RFC_ROOTS[second])
    assert verify_consistency(first, second, first_root, second_root, proof)
    if proof:
        assert not verify_consistency(first, second, second_root, first_root, proof)


# --- Every size 1..70 against the naive definition. ---

SIZES = range(1, 71)


@pytest.mark.parametrize("n", SIZES)
def test_tree_matches_naive_definition(n: int) -> None:
    leaves = random_leaves(n, seed=n)
    tree = MerkleTree(leaves)
    grown = MerkleTree()
    frontier = MerkleFrontier()
    for size in range(n + 1):
        assert tree.root(size) == naive_mth(leaves[:size])
        assert grown.root() == naive_mth(leaves[:size])
        assert frontier.root() == naive_mth(leaves[:size])
        if size < n:
            assert grown.append(leaves[size]) == size
            frontier.append(leaves[size])
    assert grown._levels == tree._levels  # appending builds exactly what bulk building does

    # Every (index, n) and (first, n) pair: across the parameters, every pair of sizes <= 70.
    root = tree.root()
    for index in range(n):
        proof = tree.inclusion_proof(index)
        assert proof == naive_path(index, leaves)
        assert verify_inclusion(leaves[index], index, n, proof, root)
    for first in range(1, n + 1):
        proof = tree.consistency_proof(first)
        assert proof == naive_proof(first, leaves)
        assert verify_consistency(first, n, tree.root(first), root, proof)
    # And proofs for earlier sizes come from the grown tree as from a tree of that size.
    for size in range(1, n + 1, 7):
        assert tree.inclusion_proof(size - 1, size) == naive_path(size - 1, leaves[:size])
        first = max(1, size // 2)
        assert tree.consistency_proof(first, size) == naive_proof(first, leaves[:size])


def inclusion_tamperings(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> list[tuple[bytes, int, int, list[bytes], bytes]]:
    cases = [
        (leaf, index, 2 * size, proof, root),
        (leaf, index, size // 2, proof, root),
        (flip(leaf), index, size, proof, root),
        (leaf, index, size, proof, flip(root)),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [root, *proof], root),
    ]
    cases += [(leaf, i, size, proof, root) for i in (index - 1, index + 1, index ^ 2)]
    for i in range(len(proof)):
        for bit in (0, 3, 7):
            cases.append((leaf, index, size, [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]], root))
    if proof:
        cases.append((leaf, index, size, proof[:-1], root))
        cases.append((leaf, index, size, proof[1:], root))
    return cases


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 31, 32, 33, 64, 70])
def test_tampered_inclusion_proofs_fail(n: int) -> None:
    leaves = random_leaves(n, seed=1000 + n)
    tree = MerkleTree(leaves)
    for index in range(n):
        proof = tree.inclusion_proof(index)
        assert verify_inclusion(leaves[index], index, n, proof, tree.root())
        for leaf, i, size, bad_proof, root in inclusion_tamperings(
            leaves[index], index, n, proof, tree.root()
        ):
            assert not verify_inclusion(leaf, i, size, bad_proof, root), (index, i, size)


@pytest.mark.parametrize("n", [2, 3, 5, 7, 8, 9, 16, 17, 31, 45, 70])
def test_tampered_consistency_proofs_fail(n: int) -> None:
    leaves = random_leaves(n, seed=2000 + n)
    tree = MerkleTree(leaves)
    second_root = tree.root()
    for first in range(1, n):
        proof = tree.consistency_proof(first)
        first_root = tree.root(first)
        assert verify_consistency(first, n, first_root, second_root, proof)
        bad = [
            (first - 1, n, first_root, second_root, proof),
            (first + 1, n, first_root, second_root, proof),
            (first, 2 * n, first_root, second_root, proof),
            (first, n, flip(first_root), second_root, proof),
            (first, n, first_root, flip(second_root), proof),
            (first, n, second_root, first_root, proof),
            (first, n, first_root, second_root, []),
            (first, n, first_root, second_root, [*proof, first_root]),
            (first, n, first_root, second_root, [second_root, *proof]),
            (first, n, first_root, second_root, proof[:-1]),
            (n, first, second_root, first_root, proof),
        ]
        for i in range(len(proof)):
            bad.append((first, n, first_root, second_root, [*proof[:i], flip(proof[i], 4), *proof[i + 1 :]]))
        for case in bad:
            assert not verify_consistency(*case), (first, n, case[:2])


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=12), min_size=1, max_size=70),
    data=st.data(),
)
def test_random_trees_against_naive_definition(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    n = len(hashes)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    first = data.draw(st.integers(1, size))
    root = root_hash(hashes, size)
    assert root == naive_mth(hashes[:size])
    proof = inclusion_proof(hashes, index, size)
    assert proof == naive_path(index, hashes[:size])
    assert verify_inclusion(hashes[index], index, size, proof, root)
    cproof = consistency_proof(hashes, first, size)
    assert cproof == naive_proof(first, hashes[:size])
    assert verify_consistency(first, size, root_hash(hashes, first), root, cproof)


def test_trivial_consistency_cases() -> None:
    r1, r2 = RFC_LEAF_HASHES[0], RFC_LEAF_HASHES[1]
    assert consistency_proof(RFC_LEAF_HASHES, 0, 8) == []
    assert consistency_proof(RFC_LEAF_HASHES, 8, 8) == []
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r2, [])
    assert not verify_consistency(0, 5, r1, r2, [])  # an empty tree has a known root
    assert not verify_consistency(0, 5, EMPTY_ROOT, r2, [r1])
    assert verify_consistency(3, 3, r1, r1, [])
    assert not verify_consistency(3, 3, r1, r2, [])
    assert not verify_consistency(3, 3, r1, r1, [r1])
    assert not verify_consistency(2, 1, r1, r2, [r1])


def test_verifiers_refuse_malformed_input_without_raising() -> None:
    leaf, root = RFC_LEAF_HASHES[0], bytes.fromhex(RFC_ROOTS[1])
    assert verify_inclusion(leaf, 0, 1, [], root)
    assert not verify_inclusion(leaf, 0, 0, [], root)
    assert not verify_inclusion(leaf, -1, 1, [], root)
    assert not verify_inclusion(leaf, 1, 1, [], root)
    assert not verify_inclusion(b"short", 0, 1, [], b"short")
    assert not verify_inclusion(leaf, 0, 2, [b"x" * 31], root)
    assert not verify_consistency(-1, 2, root, root, [])
    assert not verify_consistency(1, 2, root, root, [b""])


def test_provers_refuse_out_of_range_arguments() -> None:
    tree = MerkleTree(RFC_LEAF_HASHES)
    with pytest.raises(ValueError):
        tree.root(9)
    with pytest.raises(ValueError):
        tree.root(-1)
    with pytest.raises(ValueError):
        tree.inclusion_proof(8, 8)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 0)
    with pytest.raises(ValueError):
        tree.inclusion_proof(-1)
    with pytest.raises(ValueError):
        tree.consistency_proof(5, 4)
    with pytest.raises(ValueError):
        tree.consistency_proof(-1, 4)
    with pytest.raises(ValueError):
        tree.leaf(8)
    with pytest.raises(ValueError):
        root_hash(RFC_LEAF_HASHES, 9)
    with pytest.raises(ValueError):
        inclusion_proof(RFC_LEAF_HASHES, 3, 3)
    with pytest.raises(ValueError):
        consistency_proof(RFC_LEAF_HASHES, 2, 9)
    with pytest.raises(ValueError):
        MerkleTree([b"too short"])
    with pytest.raises(ValueError):
        tree.append(b"x" * 33)
    with pytest.raises(ValueError):
        MerkleFrontier().append(b"")


def test_empty_tree() -> None:
    assert root_hash([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT
    assert len(MerkleTree()) == 0
    assert MerkleTree(RFC_LEAF_HASHES).leaf(7) == RFC_LEAF_HASHES[7]
