"""Testing front end: the pytest plugin, ``assert_shapes``, spec strings and snapshots.

Must stay light: pytest imports the plugin at start-up, before any test, and torch
must not be imported then."""
