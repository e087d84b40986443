"""The bottom layer: the records (``Call``, ``TensorMeta``, ``Location``, ``Finding``), the
``Trace``, its JSON form, shared text helpers and the table of PyTorch facts.

Nothing here imports another shapetrace layer except lazily, in the ``Trace``'s
convenience methods (see ``shapetrace.layers``).
"""
