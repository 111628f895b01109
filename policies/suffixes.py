"""The Public Suffix List as a pure matcher: the service hands in the list's text, rules read it.

The list itself ships with the `publicsuffixlist` package (the service reads its data file);
this module only parses the format (https://publicsuffix.org/list/) and applies its algorithm,
so `policies/` stays standard-library only and tests can feed a handful of hand-written rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class SuffixSection(StrEnum):
    """Which part of the list a rule comes from: ICANN's TLD registries or private registrants."""

    ICANN = "icann"
    PRIVATE = "private"


@dataclass(frozen=True)
class SuffixMatch:
    """The public suffix of a name, the section of its rule, and whether any rule matched at all.

    `known` is False when only the list's implicit `*` rule applies: the top-level domain is
    not in the list, so it is not a TLD of the public DNS.
    """

    suffix: str
    section: SuffixSection | None
    known: bool


class PublicSuffixes:
    """Normal, wildcard (`*.ck`) and exception (`!www.ck`) rules of one copy of the list."""

    def __init__(self, rules: Iterable[tuple[str, SuffixSection]], *, source: str = "") -> None:
        self.source = source
        self._normal: dict[str, SuffixSection] = {}
        self._wildcard: dict[str, SuffixSection] = {}
        self._exception: dict[str, SuffixSection] = {}
        for rule, section in rules:
            if rule.startswith("!"):
                self._exception[rule[1:]] = section
            elif rule.startswith("*."):
                self._wildcard[rule[2:]] = section
            else:
                self._normal[rule] = section

    def __len__(self) -> int:
        return len(self._normal) + len(self._wildcard) + len(self._exception)

    @classmethod
    def parse(cls, text: str, *, source: str = "") -> PublicSuffixes:
        """Read the list's text format: one rule per line, `//` comments, section markers.

        Non-ASCII rules are stored in their A-label form, the form names are compared in.
        """
        section = SuffixSection.ICANN
        rules: list[tuple[str, SuffixSection]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("// ===BEGIN PRIVATE DOMAINS"):
                section = SuffixSection.PRIVATE
            if not line or line.startswith("//"):
                continue
            rule = line.split()[0].lower()
            prefix = rule[0] if rule[0] in "!" else ""
            body = rule[len(prefix):]
            wildcard = body.startswith("*.")
            labels = body[2:] if wildcard else body
            rules.append((prefix + ("*." if wildcard else "") + _a_labels(labels), section))
        return cls(rules, source=source)

    def match(self, name: str) -> SuffixMatch:
        """The public suffix of `name` (lowercase A-labels, no `*.`), by the list's algorithm.

        Walks the name's suffixes from the longest, so the first rule that matches has the most
        labels; an exception rule (`!city.kawasaki.jp`) beats the wildcard it excepts.
        """
        rest = name
        while True:
            dot = rest.find(".")
            parent = rest[dot + 1:] if dot >= 0 else None
            section = self._exception.get(rest)
            if section is not None:
                return SuffixMatch(parent or "", section, True)
            section = self._normal.get(rest)
            if section is None and parent is not None:
                section = self._wildcard.get(parent)
            if section is not None:
                return SuffixMatch(rest, section, True)
            if parent is None:
                return SuffixMatch(rest, None, False)
            rest = parent

    def is_public_suffix(self, name: str) -> bool:
        """True when `name` itself is a public suffix (`com`, `co.uk`, `github.io`)."""
        found = self.match(name)
        return found.known and found.suffix == name


def _a_labels(text: str) -> str:
    """Labels with non-ASCII characters turned into `xn--` A-labels (punycode of the lowercase label)."""
    if text.isascii():
        return text
    return ".".join(label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
                    for label in text.split("."))
