"""JSON round trip of a Trace (a versioned schema; JSON only, never pickle)."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from shapetrace.core.records import Call, Location, link_calls
from shapetrace.core.tensor_meta import TensorMeta, dtype_from_name, dtype_name
from shapetrace.core.trace import Trace
from shapetrace.errors import RecordedError, TraceFormatError

FORMAT = "shapetrace-trace"
VERSION = 1
# Deeper nesting in args, kwargs or config is no trace's: the recorder cuts at 24.
_MAX_NESTING = 64
_SHOWN_SOURCE = 200  # characters of a bad path or string quoted in an error


def _location(loc: Location | None) -> list | None:
    return None if loc is None else [loc.filename, loc.lineno, loc.code, loc.function]


def _meta(m: TensorMeta) -> dict[str, Any]:
    out = {
        "path": m.path,
        "shape": list(m.shape),
        "dtype": dtype_name(m.dtype),
        "device": m.device,
        "contiguous": m.contiguous,
        "stride": list(m.stride),
        "requires_grad": m.requires_grad,
        "nbytes": m.nbytes,
    }
    if m.symbolic is not None:
        out["symbolic"] = list(m.symbolic)
    if m.layout != "strided":  # (absent: strided, as in traces written before the field)
        out["layout"] = m.layout
    return out


def _call(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "parent": call.parent_id,
        "kind": call.kind,
        "name": call.name,
        "type": call.type,
        "index": call.index,
        "depth": call.depth,
        "location": _location(call.location),
        "defined_at": _location(call.defined_at),
        "inputs": [_meta(m) for m in call.inputs],
        "outputs": [_meta(m) for m in call.outputs],
        "args": list(call.args),
        "kwargs": call.kwargs,
        "config": _json_config(call.config),
        # "params" too: the field's former name, which earlier versions read.
        "num_params": call.num_params,
        "params": call.num_params,
        "error": call.error,
        "tensor_ids": list(call.tensor_ids),
        "site": call.site,
    }


def _json_config(config: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf or nan: a module's ``max_val=inf`` becomes ``{"float": "inf"}``."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return {"float": str(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return {key: plain(value) for key, value in config.items()}


def trace_to_json(trace: Trace, *, indent: int | None = None) -> str:
    error = trace.error
    document = {
        "format": FORMAT,
        "version": VERSION,
        "meta": trace.run_info,
        "ops": trace.ops_setting,
        "ignore": list(trace.ignore),
        "error": None
        if error is None
        else {
            "type": getattr(error, "type_name", type(error).__name__),
            "message": str(error.args[0]) if error.args else "",
        },
        "calls": [_call(call) for call in trace.calls],
    }
    return json.dumps(document, indent=indent)


# ------------------------------------------------------------------ loading
def _tuples(value: Any, what: str, depth: int = 0) -> Any:
    """JSON lists back to the tuples the recorder wrote."""
    if depth > _MAX_NESTING:
        raise TraceFormatError(f"{what} is nested deeper than {_MAX_NESTING} levels")
    if isinstance(value, list):
        return tuple(_tuples(v, what, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v, what, depth + 1) for k, v in value.items()}
    return value


def _load_arg(value: Any, what: str, depth: int = 0) -> Any:
    """One summarised argument of an op (lists back to tuples); renderers format
    it as code, so a slice must hold its start, stop and step."""
    if depth > _MAX_NESTING:
        raise TraceFormatError(f"{what} is nested deeper than {_MAX_NESTING} levels")
    if isinstance(value, list):
        return tuple(_load_arg(v, what, depth + 1) for v in value)
    if not isinstance(value, dict):
        return value
    if set(value) == {"slice"} and not (isinstance(value["slice"], list) and len(value["slice"]) == 3):
        raise TraceFormatError(f"{what}: a slice should hold [start, stop, step], got {value['slice']!r:.60}")
    return {key: _load_arg(v, what, depth + 1) for key, v in value.items()}


def _load_config(value: Any, what: str) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"float"} and v["float"] in ("inf", "-inf", "nan"):
            return float(v["float"])
        return tuple(plain(item) for item in v) if isinstance(v, tuple) else v

    return {key: plain(v) for key, v in _tuples(_expect(value, dict, what), what).items()}


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        wanted = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise TraceFormatError(f"{what} should be {wanted}, got {type(value).__name__}")
    return value


def _count(value: Any, what: str) -> int:
    """A size, index or count: an int >= 0."""
    if _expect(value, int, what) < 0:
        raise TraceFormatError(f"{what} should be >= 0, got {value}")
    return value  # type: ignore[no-any-return]


def _load_location(value: Any, what: str) -> Location | None:
    if value is None:
        return None
    _expect(value, list, what)
    if len(value) != 4:
        raise TraceFormatError(f"{what} should have 4 fields")
    filename, lineno, code, function = value
    return Location(
        _expect(filename, str, what), _count(lineno, what), _expect(code, str, what), _expect(function, str, what)
    )


def _load_ints(value: Any, what: str) -> tuple[int, ...]:
    return tuple(_expect(v, int, what) for v in _expect(value, list, what))


def _load_shape(value: Any, what: str) -> tuple[int, ...]:
    return tuple(_count(v, what) for v in _expect(value, list, what))


def _load_meta(value: Any, what: str) -> TensorMeta:
    _expect(value, dict, what)
    try:
        dtype = dtype_from_name(_expect(value["dtype"], str, f"{what}.dtype"))
        shape = _load_shape(value["shape"], f"{what}.shape")
        stride = _load_ints(value["stride"], f"{what}.stride")
        if len(stride) not in (0, len(shape)):  # () for sparse and other unstrided layouts
            raise TraceFormatError(f"{what}.stride has {len(stride)} dims, its shape {len(shape)}")
        symbolic = value.get("symbolic")
        if symbolic is not None:
            symbolic = tuple(_expect(v, (int, str), f"{what}.symbolic") for v in _expect(symbolic, list, what))
            if len(symbolic) != len(shape):
                raise TraceFormatError(f"{what}.symbolic has {len(symbolic)} dims, its shape {len(shape)}")
        return TensorMeta(
            path=_expect(value["path"], str, f"{what}.path"),
            shape=shape,
            dtype=dtype,
            device=_expect(value["device"], str, f"{what}.device"),
            contiguous=_expect(value["contiguous"], bool, f"{what}.contiguous"),
            stride=stride,
            requires_grad=_expect(value["requires_grad"], bool, f"{what}.requires_grad"),
            nbytes=_count(value["nbytes"], f"{what}.nbytes"),
            symbolic=symbolic,
            layout=_load_layout(value.get("layout", "strided"), f"{what}.layout"),
        )
    except KeyError as missing:
        raise TraceFormatError(f"{what} lacks the field {missing}") from None
    except ValueError as bad:
        raise TraceFormatError(f"{what}: {bad}") from None


def _load_layout(value: Any, what: str) -> str:
    layout = _expect(value, str, what)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", layout):
        raise TraceFormatError(f"{what}: {layout[:40]!r} is not a layout name")
    return layout


def _load_metas(value: Any, what: str) -> tuple[TensorMeta, ...]:
    return tuple(_load_meta(m, f"{what}[{i}]") for i, m in enumerate(_expect(value, list, what)))


def _load_call(value: Any, earlier: list[Call]) -> Call:
    position = len(earlier)
    what = f"calls[{position}]"
    _expect(value, dict, what)
    try:
        kind = value["kind"]
        if kind not in ("module", "op"):
            raise TraceFormatError(f"{what}.kind should be 'module' or 'op', got {kind!r}")
        parent = value["parent"]
        if parent is not None and (type(parent) is not int or not 0 <= parent < position):
            raise TraceFormatError(f"{what}.parent should name an earlier call, got {parent!r}")
        if type(value["id"]) is not int or value["id"] != position:
            raise TraceFormatError(f"{what}.id should be {position}, got {value['id']!r}")
        # Renderers indent by depth: a hostile one must not cost gigabytes of spaces.
        depth = 0 if parent is None else earlier[parent].depth + 1
        if value["depth"] != depth or type(value["depth"]) is not int:
            raise TraceFormatError(f"{what}.depth should be {depth} (one below its parent), got {value['depth']!r}")
        error = value["error"]
        inputs = _load_metas(value["inputs"], f"{what}.inputs")
        outputs = _load_metas(value["outputs"], f"{what}.outputs")
        return Call(
            id=position,
            kind=kind,
            name=_expect(value["name"], str, f"{what}.name"),
            type=_expect(value["type"], str, f"{what}.type"),
            inputs=inputs,
            outputs=outputs,
            location=_load_location(value["location"], f"{what}.location"),
            depth=depth,
            index=_count(value["index"], f"{what}.index"),
            parent_id=parent,
            args=_load_arg(_expect(value.get("args", []), list, f"{what}.args"), f"{what}.args"),
            kwargs={
                key: _load_arg(v, f"{what}.kwargs")
                for key, v in _expect(value.get("kwargs", {}), dict, f"{what}.kwargs").items()
            },
            config=_load_config(value.get("config", {}), f"{what}.config"),
            num_params=_num_params(value, what),
            error=None if error is None else _expect(error, str, f"{what}.error"),
            defined_at=_load_location(value.get("defined_at"), f"{what}.defined_at"),
            tensor_ids=_load_tensor_ids(value.get("tensor_ids", []), len(inputs) + len(outputs), f"{what}.tensor_ids"),
            site=_load_site(value.get("site"), f"{what}.site"),
        )
    except KeyError as missing:
        raise TraceFormatError(f"{what} lacks the field {missing}") from None


def _num_params(value: dict[str, Any], what: str) -> int:
    """``num_params``, or ``params`` as traces written before the rename call it."""
    counts = {key: _count(value[key], f"{what}.{key}") for key in ("num_params", "params") if key in value}
    if len(set(counts.values())) > 1:
        raise TraceFormatError(
            f"{what}.num_params and {what}.params differ: {counts['num_params']} and {counts['params']}"
        )
    return next(iter(counts.values()), 0)


def _load_site(value: Any, what: str) -> int | None:
    """An op's site (``Call.site``); None in a trace written without sites."""
    if value is not None and type(value) is not int:
        raise TraceFormatError(f"{what} should be an integer or null, got {value!r}")
    return value


def _load_tensor_ids(value: Any, tensors: int, what: str) -> tuple[int, ...]:
    """One identity per input and output; none in a trace written without them."""
    ids = tuple(_count(v, what) for v in _expect(value, list, what))
    if ids and len(ids) != tensors:
        raise TraceFormatError(f"{what} has {len(ids)} entries for {tensors} tensors")
    return ids


def load(source: str | os.PathLike[str]) -> Trace:
    """A Trace from a JSON string or a path to a ``.json`` file.

    >>> loaded = shapetrace.load(t.to_json())          # or a path: shapetrace.load("trace.json")
    >>> loaded["lstm"].outputs[0].shape
    (5, 30, 64)

    Args:
        source: JSON text (as ``Trace.to_json()`` writes it), or the path of a
            file holding it (a str or ``os.PathLike``).

    Returns:
        A :class:`~shapetrace.Trace` that renders, asserts and diagnoses like
        the live one (its ``error``, if any, is a ``RecordedError``).

    Raises:
        TraceFormatError: the file cannot be read, or is not shapetrace JSON
            of a version this shapetrace reads (the message says which).
    """
    text = _read(source)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as bad:  # ValueError: also an int of over 4,300 digits
        raise TraceFormatError(f"not valid JSON: {bad}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TraceFormatError('not a shapetrace trace (no "format": "shapetrace-trace" field)')
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise TraceFormatError(f"trace format version {version!r} is not supported (this shapetrace reads {VERSION})")
    calls: list[Call] = []
    for value in _expect(document.get("calls"), list, "calls"):
        calls.append(_load_call(value, calls))
    link_calls(calls)
    error = document.get("error")
    recorded = None
    if error is not None:
        _expect(error, dict, "error")
        recorded = RecordedError(str(error.get("type", "Exception")), str(error.get("message", "")))
    ops = document.get("ops", True)
    if ops is not True and ops is not False and ops != "all":
        raise TraceFormatError(f'ops should be true, false or "all", got {ops!r}')
    ignore = [_expect(code, str, "ignore") for code in _expect(document.get("ignore", []), list, "ignore")]
    return Trace(
        calls, error=recorded, ops=ops, ignore=ignore, run_info=_expect(document.get("meta", {}), dict, "meta")
    )


def _read(source: str | os.PathLike[str]) -> str:
    if isinstance(source, str):
        source = source.removeprefix("\ufeff")  # a byte order mark some editors write
        if not source.strip():
            raise TraceFormatError("load() got an empty string, neither JSON nor a path")
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        shown = _shorten(os.fspath(source))
        try:
            with open(source, encoding="utf-8-sig") as handle:
                return handle.read()
        except FileNotFoundError:
            raise TraceFormatError(f"no such trace file: {shown}") from None
        except (OSError, UnicodeDecodeError, ValueError) as bad:  # ValueError: a NUL in the path
            reason = bad.strerror if isinstance(bad, OSError) and bad.strerror else str(bad)
            raise TraceFormatError(f"cannot read {shown}: {reason}") from None
    if not isinstance(source, str):
        raise TraceFormatError(f"load() takes a JSON string or a path, not {type(source).__name__}")
    return source


def _shorten(text: str) -> str:
    text = repr(text)[1:-1]  # control characters visible, on one line
    return text if len(text) <= _SHOWN_SOURCE else text[:_SHOWN_SOURCE] + "..."
