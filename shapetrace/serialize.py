"""JSON round trip of a Trace (a versioned schema; JSON only, never pickle)."""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import RecordedError, TraceFormatError
from .meta import TensorMeta, dtype_from_name, dtype_name
from .records import Call, Location, link_calls
from .result import Trace

FORMAT = "shapetrace-trace"
VERSION = 1


def _location(loc: Location | None) -> list | None:
    return None if loc is None else [loc.filename, loc.lineno, loc.code, loc.function]


def _meta(m: TensorMeta) -> dict[str, Any]:
    out = {"path": m.path, "shape": list(m.shape), "dtype": dtype_name(m.dtype),
           "device": m.device, "contiguous": m.contiguous, "stride": list(m.stride),
           "requires_grad": m.requires_grad, "nbytes": m.nbytes}
    if m.symbolic is not None:
        out["symbolic"] = list(m.symbolic)
    return out


def _call(call: Call) -> dict[str, Any]:
    return {
        "id": call.id, "parent": call.parent_id, "kind": call.kind, "name": call.name,
        "type": call.type, "index": call.index, "depth": call.depth,
        "location": _location(call.location), "defined_at": _location(call.defined_at),
        "inputs": [_meta(m) for m in call.inputs], "outputs": [_meta(m) for m in call.outputs],
        "args": list(call.args), "kwargs": call.kwargs, "config": call.config,
        "params": call.params, "error": call.error,
    }


def trace_to_json(trace: Trace, *, indent: int | None = None) -> str:
    error = trace.error
    document = {
        "format": FORMAT,
        "version": VERSION,
        "meta": trace.meta,
        "ops": trace.ops_setting,
        "ignore": list(trace.ignore),
        "error": None if error is None else {
            "type": getattr(error, "type_name", type(error).__name__),
            "message": str(error.args[0]) if error.args else "",
        },
        "calls": [_call(call) for call in trace.calls],
    }
    return json.dumps(document, indent=indent)


# ------------------------------------------------------------------ loading
def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the recorder wrote."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TraceFormatError(f"{what} should be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _load_location(value: Any, what: str) -> Location | None:
    if value is None:
        return None
    _expect(value, list, what)
    if len(value) != 4:
        raise TraceFormatError(f"{what} should have 4 fields")
    filename, lineno, code, function = value
    return Location(_expect(filename, str, what), _expect(lineno, int, what),
                    _expect(code, str, what), _expect(function, str, what))


def _load_ints(value: Any, what: str) -> tuple[int, ...]:
    return tuple(_expect(v, int, what) for v in _expect(value, list, what))


def _load_meta(value: Any, what: str) -> TensorMeta:
    _expect(value, dict, what)
    try:
        dtype = dtype_from_name(_expect(value["dtype"], str, f"{what}.dtype"))
        symbolic = value.get("symbolic")
        return TensorMeta(
            path=_expect(value["path"], str, f"{what}.path"),
            shape=_load_ints(value["shape"], f"{what}.shape"),
            dtype=dtype,
            device=_expect(value["device"], str, f"{what}.device"),
            contiguous=_expect(value["contiguous"], bool, f"{what}.contiguous"),
            stride=_load_ints(value["stride"], f"{what}.stride"),
            requires_grad=_expect(value["requires_grad"], bool, f"{what}.requires_grad"),
            nbytes=_expect(value["nbytes"], int, f"{what}.nbytes"),
            symbolic=None if symbolic is None else tuple(
                _expect(v, (int, str), f"{what}.symbolic") for v in _expect(symbolic, list, what)),
        )
    except KeyError as missing:
        raise TraceFormatError(f"{what} lacks the field {missing}") from None
    except ValueError as bad:
        raise TraceFormatError(f"{what}: {bad}") from None


def _load_metas(value: Any, what: str) -> tuple[TensorMeta, ...]:
    return tuple(_load_meta(m, f"{what}[{i}]") for i, m in enumerate(_expect(value, list, what)))


def _load_call(value: Any, position: int) -> Call:
    what = f"calls[{position}]"
    _expect(value, dict, what)
    try:
        kind = value["kind"]
        if kind not in ("module", "op"):
            raise TraceFormatError(f"{what}.kind should be 'module' or 'op', got {kind!r}")
        parent = value["parent"]
        if parent is not None and (not isinstance(parent, int) or not 0 <= parent < position):
            raise TraceFormatError(f"{what}.parent should name an earlier call, got {parent!r}")
        if value["id"] != position:
            raise TraceFormatError(f"{what}.id should be {position}, got {value['id']!r}")
        error = value["error"]
        return Call(
            id=position, kind=kind, name=_expect(value["name"], str, f"{what}.name"),
            type=_expect(value["type"], str, f"{what}.type"),
            inputs=_load_metas(value["inputs"], f"{what}.inputs"),
            outputs=_load_metas(value["outputs"], f"{what}.outputs"),
            location=_load_location(value["location"], f"{what}.location"),
            depth=_expect(value["depth"], int, f"{what}.depth"),
            index=_expect(value["index"], int, f"{what}.index"),
            parent_id=parent,
            args=_tuples(_expect(value.get("args", []), list, f"{what}.args")),
            kwargs=_tuples(_expect(value.get("kwargs", {}), dict, f"{what}.kwargs")),
            config=_tuples(_expect(value.get("config", {}), dict, f"{what}.config")),
            params=_expect(value.get("params", 0), int, f"{what}.params"),
            error=None if error is None else _expect(error, str, f"{what}.error"),
            defined_at=_load_location(value.get("defined_at"), f"{what}.defined_at"),
        )
    except KeyError as missing:
        raise TraceFormatError(f"{what} lacks the field {missing}") from None


def load(source: str | os.PathLike[str]) -> Trace:
    """A Trace from a JSON string or a path to a ``.json`` file.

    >>> t = shapetrace.load("trace.json")
    >>> t["lstm"].outputs[0].shape
    (5, 30, 64)
    """
    text = _read(source)
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as bad:
        raise TraceFormatError(f"not valid JSON: {bad}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TraceFormatError("not a shapetrace trace (no \"format\": \"shapetrace-trace\" field)")
    version = document.get("version")
    if version != VERSION:
        raise TraceFormatError(f"trace format version {version!r} is not supported (this shapetrace reads {VERSION})")
    calls = [_load_call(c, i) for i, c in enumerate(_expect(document.get("calls"), list, "calls"))]
    link_calls(calls)
    error = document.get("error")
    recorded = None
    if error is not None:
        _expect(error, dict, "error")
        recorded = RecordedError(str(error.get("type", "Exception")), str(error.get("message", "")))
    ops = document.get("ops", True)
    ignore = _expect(document.get("ignore", []), list, "ignore")
    return Trace(calls, error=recorded, ops=ops if ops in (True, False, "all") else True,
                 ignore=[str(code) for code in ignore], meta=_expect(document.get("meta", {}), dict, "meta"))


def _read(source: str | os.PathLike[str]) -> str:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        try:
            with open(source, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            raise TraceFormatError(f"no such trace file: {os.fspath(source)}") from None
        except (OSError, UnicodeDecodeError) as bad:
            raise TraceFormatError(f"cannot read {os.fspath(source)}: {bad}") from None
    if not isinstance(source, str):
        raise TraceFormatError(f"load() takes a JSON string or a path, not {type(source).__name__}")
    return source
