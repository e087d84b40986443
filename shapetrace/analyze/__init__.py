"""Analyses: pure functions of a ``Trace`` (dimension lineage, the findings catalogue,
symbolic dims, trace diffs, the note added to an exception)."""
