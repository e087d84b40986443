"""The ``shapetrace`` command: one module per subcommand over the same functions as the API."""

from shapetrace.cli.app import entry_point, main

__all__ = ["entry_point", "main"]
