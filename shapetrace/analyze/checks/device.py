"""ST008 device-mismatch: one call's tensors live on different devices.

Seen directly when a call's inputs disagree (an ``h_0`` made with
``torch.zeros`` stays on the CPU while the model runs on the GPU). A
module's parameters are not in the trace: when a module call failed with a
device error while all its inputs agree, the parameters are elsewhere, and
the error text names where.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, operand, raised_here
from shapetrace.analyze.lineage.flow import trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.trace import Trace

_DEVICE = re.compile(r"\b(cpu|meta|mps|xla|xpu|cuda(?::\d+)?)\b")
_DEVICE_ERROR = re.compile(r"device", re.IGNORECASE)


@register("ST008", "device-mismatch", "error", "one call's tensors live on different devices")
def check_device(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    for call in trace.calls:
        # 0-d CPU tensors mix with any device, as PyTorch allows.
        metas = [m for m in call.inputs if m.shape or m.device != "cpu"]
        devices = {m.device for m in metas}
        if len(devices) > 1:
            # The first input is the data: the model was moved where the data is, mostly.
            main = metas[0]
            odd = [m for m in metas if m.device != main.device]
            names = ", ".join(operand(call, m) for m in odd)
            made = flow.source(call, call.inputs.index(odd[0]))
            origin = f" (made by {op_text(made.call)} {at_line(made.call)})" if made and not made.as_input else ""
            message = (
                f"{call_label(call)} {at_line(call)} gets {names} on {odd[0].device}{origin}, "
                f"while {operand(call, main)} is on {main.device}"
            )
            yield finding(
                "ST008",
                call,
                message,
                "create it on the input's device (device=x.device) or move it with .to(x.device)",
            )
        elif (
            raised_here(call)
            and _DEVICE_ERROR.search(call.error or "")
            and call.kind == "module"
            and devices
            and not call.config.get("trainable_params")  # a layer the model never registered: ST024's
        ):
            (device,) = devices
            named = [d for d in dict.fromkeys(_DEVICE.findall(call.error or "")) if d != device]
            if not named:
                continue
            message = (
                f"{call_label(call)} {at_line(call)} gets its input on {device}, but its parameters are on {named[0]}"
            )
            yield finding(
                "ST008", call, message, "move the model and the data to one device: model.to(device), x.to(device)"
            )
