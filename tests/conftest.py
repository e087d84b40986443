"""Test options: ``--update-goldens`` rewrites tests/golden/ from the current output."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite the golden files in tests/golden/ from what the code prints now "
                          "(look at `git diff tests/golden` before committing)")


def pytest_configure(config: pytest.Config) -> None:
    from tests import render_support

    render_support.UPDATE = config.getoption("update_goldens")
