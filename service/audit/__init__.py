"""The tamper-evident audit log: canonical events, an RFC 6962 Merkle tree, signed tree heads."""
