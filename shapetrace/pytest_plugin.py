"""pytest integration (registered through the ``pytest11`` entry point).

This module must not import torch at pytest start-up: everything heavy is
imported inside the fixtures and hooks that need it.
"""
