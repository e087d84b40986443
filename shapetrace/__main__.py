"""``python -m shapetrace``: the ``shapetrace`` command.

``python -m`` puts the current folder first on ``sys.path``, so a user's
``rich.py`` or ``graphviz.py`` there would be what shapetrace's own
``import rich`` gets (``'rich' is not a package``). That entry is taken off
before anything else is imported, for the whole command: the console script
has no such entry either, and ``run`` gives the script the ``sys.path[0]``
python would (``record/as_python.py``); ``run -m`` and factory targets put
the current folder back for the user's import (``module_file``, ``factory.py``).
"""

import os
import sys

if not getattr(sys.flags, "safe_path", False) and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from shapetrace.cli.app import entry_point  # (after the path is fixed)

entry_point()
