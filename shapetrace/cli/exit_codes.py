"""The command's exit codes (listed in ``shapetrace --help``).

A traced script keeps the exit code ``python script.py`` would give it: its
own ``sys.exit(N)``, 1 for an uncaught exception (tracing never changes what
the user's program does), so an exception is told from a finding by its
traceback on stderr, not by the code.
"""

EXIT_OK = 0
EXIT_FINDINGS = 1  # a finding reached --fail-on (run, show)
EXIT_DIFFERENCES = 1  # the traces differ (diff), as diff(1) and git diff --exit-code
EXIT_RAISED = 1  # the traced script or model raised, as python exits: its traceback is on stderr
EXIT_USAGE = 2  # a bad command line or input file: one line on stderr
EXIT_INTERNAL = 70  # a bug in shapetrace itself (sysexits.h's EX_SOFTWARE): one line on stderr
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it

EXIT_CODES_HELP = """\
exit codes:
  0    no finding reached --fail-on; diff: the traces agree
  1    a finding reached --fail-on; diff: the traces differ; or
       the traced script or model raised (as python exits 1; traceback on stderr)
  2    usage error (bad arguments, unreadable file): one line on stderr
  70   a bug in shapetrace itself: one line on stderr (SHAPETRACE_DEBUG=1 for its traceback)
  N    the script's own sys.exit(N), which wins over findings and 70; 130 when interrupted"""
