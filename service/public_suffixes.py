"""Loading the Public Suffix List that ships inside the `publicsuffixlist` package (or the operator's copy)."""

from __future__ import annotations

import functools
from pathlib import Path

import publicsuffixlist

from policies.suffixes import PublicSuffixes

SHIPPED_LIST = Path(publicsuffixlist.__file__).with_name("public_suffix_list.dat")


@functools.cache
def load_public_suffixes(path: Path = SHIPPED_LIST) -> PublicSuffixes:
    """The list at `path`, parsed once per process (about 17 ms for ~10,000 rules).

    Raises:
        OSError: the file cannot be read.
    """
    return PublicSuffixes.parse(path.read_text(encoding="utf-8"), source=str(path))


def suffixes_for(policy_path: Path, configured: str) -> PublicSuffixes:
    """The list a policy names (`[names] public_suffix_file`, relative to the policy's folder), else the shipped one.

    Raises:
        OSError: the configured file cannot be read.
    """
    if not configured:
        return load_public_suffixes()
    return load_public_suffixes((policy_path.parent / configured).resolve())
