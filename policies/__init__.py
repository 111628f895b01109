"""Pure certificate-issuance policy: facts in, decision out (standard library only)."""
