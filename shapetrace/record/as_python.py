"""Running a user's script as ``python script.py`` (or ``python -m pkg.train``) would.

``shapetrace run`` is itself a Python program, so before the script starts the
interpreter already differs from the one ``python script.py`` gives it: its
``sys.path[0]`` is the launcher's folder (the console script's ``bin/``;
``python -m shapetrace``'s current folder is taken off by ``__main__.py``), and ``sys.modules``
caches the packages shapetrace imported (rich, graphviz, numpy, ...).
``runpy.run_path`` adds more: an absolute ``sys.argv[0]``, ``__package__ = ''``
and no ``__loader__``. Each of these changes what a script sees: a
``rich.py`` or ``attr.py`` of the user's, beside the script, is what their
``import rich`` gets under python, but shapetrace's cached package under
``runpy``; and a module of the user's named like a package shapetrace imports
later (``graphviz.py``) would be what shapetrace gets once the script is done.

Python's own rules, matched here (docs.python.org, "sys.path initialization"
and "Command line and environment"):

- ``sys.argv[0]`` is the script's path as given; under ``-m``, the module's
  full file name.
- ``sys.path[0]`` is the folder of the script's real path (symlinks
  resolved), or the current folder under ``-m``, and replaces the launcher's
  entry; with ``-P``/``PYTHONSAFEPATH`` (``sys.flags.safe_path``) nothing is
  added.
- ``__main__`` is a fresh module with ``__file__`` (absolute), a
  ``SourceFileLoader``, ``__spec__ = None`` and ``__package__ = None``, and
  is ``sys.modules['__main__']`` while it runs (pickling a class defined in
  the script, and DataLoader workers started with ``spawn``, look it up there).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.machinery
import importlib.util
import io
import os
import runpy
import sys
import types
import zipfile
from collections.abc import Iterator, Sequence

from shapetrace._startup import MODULES_BEFORE_SHAPETRACE

# Modules shapetrace cannot record without while the script runs: hiding them
# would break the recording itself, where python would have failed at the
# script's own ``import torch``.
_NEEDED = frozenset({"torch", "shapetrace"})
_SAFE_PATH = bool(getattr(sys.flags, "safe_path", False))  # -P, PYTHONSAFEPATH (Python 3.11+)


def launched_path0() -> bool:
    """Whether ``sys.path[0]`` is the entry python made for shapetrace's launcher.

    That is the console script's folder (``.venv/bin`` for ``.venv/bin/shapetrace``).
    ``python -m shapetrace`` takes its entry (the current folder) off itself
    (``shapetrace/__main__.py``), so what is first then is the user's own
    (``PYTHONPATH``) and is kept, as are in-process callers' (``run_script``
    from Python, the tests). Never raises.
    """
    if _SAFE_PATH or not sys.argv or not sys.path:
        return False
    launcher, first = sys.argv[0], sys.path[0]
    if os.path.basename(launcher) in ("shapetrace", "shapetrace.exe"):
        return _same_folder(os.path.dirname(os.path.abspath(launcher)), first)
    return False


def _same_folder(folder: str, entry: str) -> bool:
    return os.path.realpath(folder) == os.path.realpath(entry or os.getcwd())


def script_folder(path: str, module: str | None) -> str:
    """What python puts first on ``sys.path`` for ``path`` (or for ``-m module``):
    the folder of the script's real path, or the current folder."""
    return os.getcwd() if module else os.path.dirname(os.path.realpath(path))


@contextlib.contextmanager
def python_sys(
    path: str, shown: str, argv: Sequence[str], *, module: str | None, replace_path0: bool
) -> Iterator[None]:
    """``sys.argv``, ``sys.path`` and ``sys.modules`` as python would set them
    for the script ``path`` (``shown``: its path as the user typed it), for
    the length of the block; everything is restored after it.

    ``replace_path0``: the current ``sys.path[0]`` is the launcher's (see
    ``launched_path0``) and the script's folder replaces it; otherwise the
    folder is inserted before it. Cached packages that a module in the
    script's folder shadows are hidden from the script (its import finds its
    own file, as under python) and put back after; a module of the user's that
    shadows an installed package is taken out of ``sys.modules`` after, so
    that shapetrace's own later imports find the package. Never raises.
    """
    folder = script_folder(path, module)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [shown, *argv]
    if not _SAFE_PATH:
        if replace_path0 and sys.path:
            sys.path[0] = folder
        else:
            sys.path.insert(0, folder)
    hidden = _hide(_shadowed(folder, list(sys.modules)))
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        user_modules = [name for name in _shadowed(folder, list(sys.modules)) if _is_from(sys.modules[name], folder)]
        _hide([name for name in user_modules if name in hidden or _installed(name, folder)])
        sys.modules.update(hidden)


def _shadowed(folder: str, names: list[str]) -> list[str]:
    """The top-level module names among ``names`` that a file or package in
    ``folder`` provides (a namespace folder does not: python goes on searching)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    stems = {entry.partition(".")[0] for entry in entries}
    found = []
    for name in names:
        if "." in name or name not in stems or name in _NEEDED or name == "__main__":
            continue
        if name in MODULES_BEFORE_SHAPETRACE or name in sys.stdlib_module_names:
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, [folder])
        if spec is not None and spec.loader is not None:
            found.append(name)
    return found


def _hide(names: list[str]) -> dict[str, types.ModuleType]:
    """Take ``names`` and their submodules out of ``sys.modules``; return them."""
    taken = {}
    for key in list(sys.modules):
        if key.partition(".")[0] in names:
            taken[key] = sys.modules.pop(key)
    return taken


def _is_from(module: types.ModuleType, folder: str) -> bool:
    where = getattr(module, "__file__", None)
    if not where:
        return False
    found_in = os.path.dirname(os.path.realpath(where))
    return found_in == folder or found_in.startswith(folder + os.sep)


def _installed(name: str, folder: str) -> bool:
    """Whether ``name`` can be imported from ``sys.path`` as it is now, other than from ``folder``."""
    others = [entry for entry in sys.path if not _same_folder(folder, entry)]
    try:
        return importlib.machinery.PathFinder.find_spec(name, others) is not None
    except (ImportError, ValueError):
        return False


def run_as_main(path: str) -> None:
    """Run the file ``path`` (absolute) as ``python path`` runs it, in a fresh
    ``__main__`` module (see the module's docstring for what python sets).

    A zip archive or a compiled ``.pyc`` goes through ``runpy.run_path``, which
    knows their formats. Raises whatever the script raises (``SystemExit``
    included); ``OSError`` when the file cannot be read; ``SyntaxError`` when
    it does not compile.
    """
    if zipfile.is_zipfile(path):
        runpy.run_path(path, run_name="__main__")
        return
    with io.open_code(path) as source_file:
        source = source_file.read()
    if source.startswith(importlib.util.MAGIC_NUMBER):
        runpy.run_path(path, run_name="__main__")
        return
    code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", path),
        __spec__=None,
        __package__=None,
        __builtins__=builtins,
    )
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved
