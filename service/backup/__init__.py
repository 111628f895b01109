"""`certgate backup` and `certgate restore`: one consistent snapshot with a signed manifest of digests."""
