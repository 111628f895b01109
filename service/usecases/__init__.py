"""One function per use case; each runs in one transaction with its audit events."""
