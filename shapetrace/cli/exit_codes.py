"""One module per subcommand: each adds its parser and returns an exit code."""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
