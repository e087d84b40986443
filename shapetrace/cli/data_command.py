"""``shapetrace data``: a shape census of a dataset built by ``pkg.module:factory``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.progress import track
from rich_argparse import RichHelpFormatter
from torch.utils.data import DataLoader

from shapetrace.analyze.census import take_census
from shapetrace.cli.exit_codes import EXIT_OK
from shapetrace.cli.factory import describe_failure, import_factory
from shapetrace.errors import ShapetraceError
from shapetrace.render.census import census_report
from shapetrace.render.report import make_console

DESCRIPTION = """\
Build a Dataset or a DataLoader with pkg.module:factory (a function or class
callable without arguments) and count, per key of its samples, the shapes and
dtypes with the first index of each: the sample that will break a batch, the
range of variable lengths, the short last batch and, with a DistributedSampler,
what each rank gets. Samples are read from the dataset one by one, not
collated."""

# Scans shorter than this finish before a progress bar would help.
_PROGRESS_FROM = 200


def add_parser(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser(
        "data",
        formatter_class=RichHelpFormatter,
        description=DESCRIPTION,
        help="a shape census of a dataset built by pkg.module:factory",
    )
    data.add_argument("target", metavar="pkg.module:factory", help="returns a Dataset or a DataLoader")
    data.add_argument(
        "--samples",
        "-n",
        type=int,
        metavar="N",
        help="read the first N samples only (default: all; needed for a dataset without len())",
    )
    data.add_argument("--format", "-f", choices=("table", "json"), default="table", help="output (default: table)")
    data.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")


def execute(options: argparse.Namespace) -> int:
    source = _build(options.target)
    census = take_census(source, samples=options.samples, progress=_progress_bar)
    if options.format == "json":
        text = json.dumps(census.to_dict(), indent=1)
        if options.output:
            _write(options.output, text + "\n")
        else:
            print(text)
        return EXIT_OK
    title = options.target.partition(":")[2]
    if options.output:
        with open(options.output, "w", encoding="utf-8") as file:
            make_console(file, width=120, color=False).print(census_report(census, title=title))
    else:
        make_console().print(census_report(census, title=title))
    return EXIT_OK


def _build(target: str) -> Any:
    factory = import_factory(target)
    try:
        source = factory()
    except Exception as failed:
        raise ShapetraceError(f"{target} raised {describe_failure(failed)}") from None
    if not isinstance(source, DataLoader) and not (hasattr(source, "__getitem__") or hasattr(source, "__iter__")):
        raise ShapetraceError(f"{target} returned a {type(source).__name__}, not a Dataset or a DataLoader")
    return source


def _progress_bar(samples: Iterable[Any], total: int | None) -> Iterable[Any]:
    if (total is not None and total < _PROGRESS_FROM) or not sys.stderr.isatty():
        return samples
    return track(samples, total=total, description="reading samples", console=make_console(sys.stderr), transient=True)


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        raise ShapetraceError(f"cannot write {path}: {error.strerror}") from None
