"""Dimension lineage: which original axes each tensor dimension is made of.

``atoms`` holds the representation and the view/reshape regrouping, ``ops``
and ``modules`` the rules that carry atoms through each kind of call, and
``flow`` links every input to the call that produced it and runs the rules
over a whole trace: ``analyze(trace.calls)``.
"""
