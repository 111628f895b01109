"""The ACME edge (RFC 8555, RFC 8738, RFC 9773): front end, accounts, orders and the validator."""
