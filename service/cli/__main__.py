"""`python -m service.cli` runs the CLI (what the tests use)."""

from service.cli import main

main()
