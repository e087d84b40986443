"""What the interpreter had loaded before shapetrace was imported.

``shapetrace/__init__.py`` imports this module first, so the set holds the
interpreter's own start-up modules (and, in process, its host's, e.g.
pytest's), not shapetrace's dependencies. ``record/as_python.py`` reads it:
python has these loaded when a script starts too, so a same-named file beside
a script does not replace them under python either.
"""

import sys

MODULES_BEFORE_SHAPETRACE = frozenset(sys.modules)
