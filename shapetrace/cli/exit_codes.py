"""The command's exit codes (listed in ``shapetrace --help`` and the README's table).

Each outcome has its own code, so that CI can tell a shape finding from a
crash: findings 3, differences 4. A traced script keeps the exit code
``python script.py`` would give it (tracing never changes what the user's
program does): its own ``sys.exit(N)``, which wins over findings, and 1 for
an uncaught exception, as Python exits; so 1 is never shapetrace's verdict.
"""

EXIT_OK = 0
EXIT_RAISED = 1  # the traced script or model raised, as python exits: its traceback is on stderr
EXIT_USAGE = 2  # a bad command line or input file: one line on stderr (as argparse exits)
EXIT_FINDINGS = 3  # a finding reached --fail-on (run, show)
EXIT_DIFFERENCES = 4  # diff: the traces differ (or the ranks' traces diverge)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it

EXIT_CODES_HELP = """\
exit codes:
  0    success: no finding reached --fail-on; diff: the traces agree
  1    the traced script or model raised (as python exits 1; traceback on stderr)
  2    usage error (bad arguments, unreadable file): one line on stderr
  3    a finding reached --fail-on
  4    diff: the traces differ
  N    the script's own sys.exit(N), which wins over findings; 130 when interrupted"""
