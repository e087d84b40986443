"""Recording: ``trace()``, the recorder, its module hooks and op mode, frames, flattening,
module info, ``torch.compile`` support and script mode. The only code that touches hooks
and torch function modes; it produces a ``Trace``."""
