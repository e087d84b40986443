"""Every docstring example of the package runs, and shows what it says.

The examples share one namespace, the README's: ``model`` is the article's
LSTM forecaster, ``x`` a (5, 30) batch, ``t`` (also ``trace``) its trace;
``encoded`` is the trace of a 12-layer ``nn.TransformerEncoder`` on a (2, 7, 32)
batch, ``encoder`` its root call; ``shapetrace``, ``torch``, ``nn`` and ``rich`` are imported. An example
that cannot run here (it writes a file, needs a terminal) says
``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import rich
import torch
from torch import nn

import shapetrace
from tests.models.render_models import forecaster, transformer


def _modules() -> list[str]:
    names = ["shapetrace"]
    for info in pkgutil.walk_packages(shapetrace.__path__, "shapetrace."):
        if info.name != "shapetrace.__main__":
            names.append(info.name)
    return names


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                tests.append(test)
    return sorted(tests, key=lambda test: test.name)


EXAMPLES = _examples()


@pytest.fixture(scope="module")
def namespace() -> dict:
    model = forecaster()
    x = torch.randn(5, 30)
    with shapetrace.trace(model) as t:
        model(x)
    stack = transformer()
    with shapetrace.trace(stack) as encoded:
        stack(torch.randn(2, 7, 32))
    return {"model": model, "x": x, "t": t, "trace": t, "encoded": encoded, "encoder": encoded.root,
            "shapetrace": shapetrace, "torch": torch, "nn": nn, "rich": rich}


def test_the_package_has_examples():
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("test", EXAMPLES, ids=[test.name for test in EXAMPLES])
def test_docstring_example(test: doctest.DocTest, namespace: dict):
    test.globs = {**test.globs, **namespace}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)
