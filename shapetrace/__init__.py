"""shapetrace: what shape is this tensor here, and why is it wrong?"""

from ._version import __version__
from .checks.finding import Finding
from .errors import ShapetraceError
from .meta import TensorMeta
from .records import Call, Location
from .serialize import load
from .trace import Trace
from .tracing import ShapetraceWarning, trace

__all__ = [
    "Call",
    "Finding",
    "Location",
    "ShapetraceError",
    "ShapetraceWarning",
    "TensorMeta",
    "Trace",
    "__version__",
    "load",
    "trace",
]
