"""certgate's local certificate authority: keys, issuance, profile, lint and revocation."""
