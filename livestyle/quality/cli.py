"""Subcommand registration (filled in by the owner of this package)."""


def add_parsers(sub) -> None:
    """Add this package's subcommands to the ``livestyle`` parser; imports nothing heavy."""
