"""Reading the policy file and the blocklists it names (the policy itself stays pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policies.config import Policy, parse_policy
from policies.weakkeys import parse_blocklist

SHIPPED_BLOCKLIST = Path(__file__).resolve().parent.parent / "policies" / "data" / "blocklist.txt"


@dataclass(frozen=True)
class LoadedPolicy:
    """The policy in force, the file it came from and the SPKI blocklist it names."""

    policy: Policy
    path: Path
    blocklist: frozenset[str]
    text: str


def load_policy(path: Path) -> LoadedPolicy:
    """Read and parse a policy file and its blocklist files.

    Raises:
        policies.config.PolicyFileError: the file is invalid.
        OSError: a file cannot be read.
        ValueError: a blocklist line is not a SHA-256 digest.
    """
    data = path.read_bytes()
    policy = parse_policy(data)
    digests: set[str] = set()
    files = [SHIPPED_BLOCKLIST] if SHIPPED_BLOCKLIST.exists() else []
    files += [(path.parent / name) for name in policy.weak_keys.blocklist_files]
    for file in files:
        digests |= parse_blocklist(file.read_text())
    return LoadedPolicy(policy, path, frozenset(digests), data.decode())
