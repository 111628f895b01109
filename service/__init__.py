"""certgate's service: HTTP API, persistence, CA and audit around the pure `policies` package."""
