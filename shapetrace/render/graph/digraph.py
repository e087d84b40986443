"""The data flow as a ``graphviz.Digraph``, and saving it as SVG or PNG.

``graph_layout`` decides what is drawn (and documents how edges are found
without tensor identity); this module only turns that plan into DOT.
"""

from __future__ import annotations

import shutil
from collections import Counter
from typing import TYPE_CHECKING

from shapetrace.core.finding import SEVERITY_RANK, Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta, dtype_name
from shapetrace.core.text import format_count, format_op, format_shape, tensor_name
from shapetrace.core.trace import Trace
from shapetrace.errors import GraphTooLargeError, ShapetraceError
from shapetrace.render.graph.layout import GraphPlan
from shapetrace.render.graph.parts import Box, Edge, End, Origin, Unrecorded
from shapetrace.render.graph.size import MAX_LAYOUT_SIZE, layout_size
from shapetrace.render.marks import marks
from shapetrace.render.sections import DataTransform, Section
from shapetrace.render.source.names import forward_input_name
from shapetrace.render.structure import repeat_mark, run_label

if TYPE_CHECKING:
    import graphviz

INSTALL_DOT = "install Graphviz for it: apt-get install graphviz, or brew install graphviz"
_FONT = "Helvetica"
_MODULE_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8eefc", "color": "#4a6fd0"}
_OP_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f3f4f6", "color": "#9ca3af", "fontsize": "9"}
_END_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": "#dcfce7", "color": "#16a34a"}
_STUB_STYLE = {"shape": "plaintext", "fontcolor": "#6b7280", "fontsize": "9"}
_GUESSED_EDGE = {"style": "dashed"}
# The label of a link found by metadata alone: tensor identity did not say it.
GUESSED = "(matched by shape)"
NOT_RECORDED = "not recorded"
_FINDING_COLOR = {"error": "#fecaca", "warning": "#fde68a", "info": "#dbeafe"}
_FINDING_LINE = {"error": "#dc2626", "warning": "#d97706", "info": "#2563eb"}


def trace_graph(
    trace: Trace,
    *,
    depth: int | None = None,
    ops: bool = False,
    collapse: bool = True,
    rankdir: str = "TB",
    max_size: int | None = MAX_LAYOUT_SIZE,
) -> graphviz.Digraph:
    """The trace as a graph: a node per module call, clusters for parents.

    >>> dot = trace_graph(encoded, depth=2)   # 12 encoder layers drawn once
    >>> 'layers.0-11 ×12' in dot.source
    True

    Edges carry the tensor's shape, e.g. ``lstm -> linear`` labelled
    ``(150, 64)`` and ``via .contiguous() .view(150, 64)``; ``ops=True``
    draws those ops as nodes instead. Findings colour their call; the steps
    of a loop are one node (``lstm1 ×1999``).

    ``max_size``: the most nodes plus rank-crossing edge segments
    (``size.layout_size``) to hand to ``dot``; default ``MAX_LAYOUT_SIZE``
    (1,200: about 3 CPU seconds of ``dot`` in benchmarks/graph_size.py, where
    at 2,000 it had not finished after 60 s); None: no limit.
    Raises ``GraphTooLargeError`` past it, naming a ``depth=``/``show_ops=False``
    that fits.
    """
    graph, size = _draw(trace, depth=depth, ops=ops, collapse=collapse, rankdir=rankdir)
    if max_size is not None and size > max_size:
        raise GraphTooLargeError(_too_large(trace, size, max_size, depth=depth, ops=ops, collapse=collapse))
    return graph


def _draw(
    trace: Trace, *, depth: int | None, ops: bool, collapse: bool, rankdir: str = "TB"
) -> tuple[graphviz.Digraph, int]:
    import graphviz

    plan = GraphPlan(trace, depth=depth, ops=ops, collapse=collapse)
    # Named after the report's model (the first section's), not whichever module ran first.
    title = plan.sections[0].section if plan.sections else None
    root = (title.wrapped or title.model) if title is not None else trace.root  # DDP's: the model it holds
    graph = graphviz.Digraph(name=root.type if root is not None else "trace")
    graph.attr(rankdir=rankdir, compound="true", fontname=_FONT, fontsize="11", nodesep="0.3")
    graph.attr("node", fontname=_FONT, fontsize="11")
    graph.attr("edge", fontname=_FONT, fontsize="9", color="#4b5563")
    drawing = _Drawing(trace, plan, graph)
    drawing.draw()
    return graph, layout_size(drawing.drawn_edges)


def _too_large(trace: Trace, size: int, max_size: int, *, depth: int | None, ops: bool, collapse: bool) -> str:
    """One line: how large, and the least folding that fits."""
    deepest = max((call.depth for call in trace.calls if call.kind == "module"), default=0)
    start = deepest if depth is None else min(depth, deepest)
    tries = [(start, False)] if ops else []
    tries += [(d, False) for d in range(start - 1, -1, -1)]
    advice = "pass depth=0"
    for try_depth, try_ops in tries:
        if _draw(trace, depth=try_depth, ops=try_ops, collapse=collapse)[1] <= max_size:
            advice = "pass " + " and ".join(
                ([f"depth={try_depth}"] if try_depth != depth else [])
                + (["show_ops=False"] if ops and not try_ops else [])
            )
            break
    if not collapse:
        advice = "leave collapse=True or " + advice
    return (
        f"the graph is too large for dot to lay out in a few seconds ({size:,} positions, limit {max_size:,}): "
        f"{advice} (--depth N, --no-ops), or max_size=None to draw it anyway"
    )


class _Drawing:
    def __init__(self, trace: Trace, plan: GraphPlan, graph: graphviz.Digraph) -> None:
        self.plan, self.graph = plan, graph
        self.findings = _findings_by_call(trace, plan)
        self.anchor: dict[int, str] = {}  # cluster call id -> its last node
        self.ends: set[str] = set()
        self.drawn_edges: list[tuple[str, str]] = []  # (tail, head) node ids, for layout_size
        usual = Counter((m.dtype, m.device) for m in (e.meta for e in plan.edges))
        self.usual = usual.most_common(1)[0][0] if usual else None
        # Ops not drawn as nodes but drawn as where a tensor was made (torch.randn),
        # by the cluster they sit in (-1: the top level).
        self.sources: dict[int, dict[Call, None]] = {}
        for edge in plan.edges:
            origin = edge.origin
            if isinstance(origin, Call) and plan.role(origin) == "hidden":
                parent = plan.drawn(origin.parent).id if origin.parent is not None else -1
                self.sources.setdefault(parent, {})[origin] = None

    def draw(self) -> None:
        self._draw_sources(self.graph, -1)
        if not self.plan.sections:
            for box in self.plan.boxes:
                self._draw_box(self.graph, box)
        for position, group in enumerate(self.plan.sections):  # as the report's sections
            with self.graph.subgraph(name=f"cluster_section_{position}") as cluster:
                cluster.attr(
                    label=_section_title(group.section),
                    style="rounded",
                    color="#6b7280",
                    fontname=_FONT,
                    fontsize="12",
                    labeljust="l",
                )
                for box in group.boxes:
                    self._draw_box(cluster, box)
        for edge in self.plan.edges:
            self._draw_edge(edge)

    # ------------------------------------------------------------ boxes
    def _draw_box(self, graph: graphviz.Digraph, box: Box) -> str:
        if not box.children:
            return self._draw_node(graph, box)
        with graph.subgraph(name=f"cluster_{box.call.id}") as cluster:
            codes = self.findings.get(box.call.id, [])
            cluster.attr(
                label=_call_title(box.call, box.run, codes),
                style="rounded,dashed",
                color=_FINDING_LINE[_worst(codes)] if codes else "#9ca3af",
                fontname=_FONT,
                fontsize="11",
                labeljust="l",
            )
            self._draw_sources(cluster, box.call.id)
            last = ""
            for child in box.children:
                last = self._draw_box(cluster, child)
            self.anchor[box.call.id] = last
        return last

    def _draw_node(self, graph: graphviz.Digraph, box: Box) -> str:
        call, node = box.call, _node_id(box.call)
        style = dict(_MODULE_STYLE if call.kind == "module" else _OP_STYLE)
        codes = self.findings.get(call.id, [])
        if codes:
            style.update(fillcolor=_FINDING_COLOR[_worst(codes)], color=_FINDING_LINE[_worst(codes)])
        transform = self.plan.transforms.get(call.id)
        title = _call_title(call, box.run, codes) if transform is None else _transform_title(transform, codes)
        graph.node(node, title, **style)
        return node

    def _draw_sources(self, graph: graphviz.Digraph, cluster_id: int) -> None:
        for call in self.sources.get(cluster_id, {}):
            self._draw_node(graph, Box(call, [call]))

    # ------------------------------------------------------------ edges
    def _draw_edge(self, edge: Edge) -> None:
        attrs: dict[str, str] = {}
        tail = self._end_node(edge.origin, attrs, "ltail")
        head = self._end_node(edge.target, attrs, "lhead")
        if edge.loop:  # a loop's state: graphviz draws an edge from a node to itself, not from a cluster
            attrs.pop("ltail", None)
            attrs.pop("lhead", None)
        codes = [f for op in edge.via for f in self.findings.get(op.id, [])]
        if edge.guessed or isinstance(edge.origin, Unrecorded) or isinstance(edge.target, Unrecorded):
            attrs.update(_GUESSED_EDGE)
        if codes:
            attrs.update(color=_FINDING_LINE[_worst(codes)], fontcolor=_FINDING_LINE[_worst(codes)], penwidth="2")
        self.graph.edge(tail, head, label=_finding_lines(self._edge_text(edge), codes), **attrs)
        self.drawn_edges.append((tail, head))

    def _end_node(self, item: Origin | Call | End | Unrecorded, attrs: dict[str, str], side: str) -> str:
        if isinstance(item, End):
            return self._end(item)
        if isinstance(item, Unrecorded):
            return self._stub(item)
        if item.id in self.anchor:  # a cluster: the edge touches its border
            attrs[side] = f"cluster_{item.id}"
            return self.anchor[item.id]
        return _node_id(item)

    def _end(self, end: End) -> str:
        """The node of a graph input or output, named as PyTorch names it (``target``)."""
        node = f"{'in' if end.is_input else 'out'}_{end.call.id}"
        if end.path:
            node += "_" + end.path.replace(".", "_")
        if node not in self.ends:
            self.ends.add(node)
            meta = end.call.input_at(end.path) if end.is_input and not end.made else end.call.output_at(end.path)
            name = tensor_name(end.call, meta, output=not end.is_input) if meta is not None else ""
            if end.is_input:  # the forward's own name for it: src, tgt, input_ids
                call, path = self.plan.named_by(end)
                name = forward_input_name(call, path, None if name == end.path else name) or name
            label = "input" if end.is_input else "output"
            if name and name != end.path:
                label = name if end.is_input else f"{label} {name}"
            elif end.path not in ("", "0"):  # where in a nested value: ``output maps.0.tensors``
                label = f"{label} {end.path}"
            self.graph.node(node, label, **_END_STYLE)
        return node

    def _stub(self, stub: Unrecorded) -> str:
        """A tensor no recorded call made (a parameter, code the trace did not see),
        or, with ``read``, an output only code the trace did not see read."""
        node = f"u_{'out_' * stub.read}{stub.call.id}_" + (stub.path.replace(".", "_") or "0")
        if node not in self.ends:
            self.ends.add(node)
            self.graph.node(node, NOT_RECORDED, **_STUB_STYLE)
        return node

    def _edge_text(self, edge: Edge) -> str:
        """``input (5, 30, 1)``; through hidden ops, the tensor at both ends:
        ``output (5, 30, 64) non-contig → (150, 64)`` then ``via .contiguous() .view(150, 64)``."""
        meta = edge.meta
        text = format_shape(meta) if edge.count == 1 else f"{edge.count} × {format_shape(meta)}"
        if isinstance(edge.target, Call) and edge.target.kind == "module":
            name = tensor_name(edge.target, meta, output=False)
            text = f"{name} {text}" if name != meta.path else text
        text += marks(meta)
        start = edge.start
        if edge.via and start is not None and (start.shape, start.contiguous) != (meta.shape, meta.contiguous):
            origin = edge.origin
            name = tensor_name(origin, start) if isinstance(origin, Call) else ""
            named = f"{name} " if name and name != start.path else ""
            text = f"{named}{format_shape(start)}{marks(start)} → {text}"
        if self.usual is not None and (meta.dtype, meta.device) != self.usual:
            text += f" {_placement(meta, self.usual)}"
        if edge.via:  # the last three ops: the ones that shaped what arrives
            text += "\nvia " + "… " * (len(edge.via) > 3) + " ".join(format_op(op, 20) for op in edge.via[-3:])
        if edge.loop:  # a loop over one module, or a chain of siblings alike drawn as one
            run = self.plan.run_of(edge.origin) if isinstance(edge.origin, Call) else []
            text += "\n↻ " + ("into the next step" if len({c.name for c in run}) <= 1 else "each into the next")
        if edge.guessed:
            text += f"\n{GUESSED}"
        return text


def _placement(meta: TensorMeta, usual: tuple) -> str:
    parts = []
    if meta.dtype != usual[0]:
        parts.append(dtype_name(meta.dtype))
    if meta.device != usual[1]:
        parts.append(meta.device)
    return " ".join(parts)


def _node_id(call: Call) -> str:
    return f"c{call.id}"


def _call_title(call: Call, run: list[Call], findings: list[Finding]) -> str:
    """``lstm`` over ``LSTM · 150,272 params``; ``layers.0-11 ×12`` for a folded run."""
    if call.kind == "op":
        text = format_op(call, 32) + repeat_mark(run)
    elif not call.name:  # the root module: its type is its name
        text = call.type + _params(call)
    else:
        text = f"{run_label(run)}\n{call.type}{_params(call)}"
    return _finding_lines(text, findings)


def _section_title(section: Section | None) -> str:
    """A section's cluster: its model as the report's title names it
    (``Generator · 4,528 params``), or ``data transforms (in the DataLoader)``."""
    if section is None:
        return "data transforms (in the DataLoader)"
    model = section.model
    return (section.title if model.kind == "module" else format_op(model, 32)) + _params(model)


def _transform_title(transform: DataTransform, findings: list[Finding]) -> str:
    """``Normalize ×60 (data transform)``, as the table's row."""
    return _finding_lines(f"{transform.label} (data transform)", findings)


def _params(call: Call) -> str:
    return f" · {format_count(call.num_params)} params" if call.num_params else ""


def _worst(findings: list[Finding]) -> str:
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__)


def _finding_lines(text: str, findings: list[Finding]) -> str:
    codes = list(dict.fromkeys(f.code for f in findings))
    return text + ("\n⚠ " + " ".join(codes) if codes else "")


def _findings_by_call(trace: Trace, plan: GraphPlan) -> dict[int, list[Finding]]:
    """Findings keyed by the drawn call they belong to (hidden ops keep their own)."""
    calls = {call.id: call for call in trace.calls}
    by_call: dict[int, list[Finding]] = {}
    for finding in trace.findings:
        call = calls.get(finding.call_id) if finding.call_id is not None else None
        if call is None:
            continue
        owner = call if plan.role(call) == "hidden" else plan.drawn(call)
        by_call.setdefault(owner.id, []).append(finding)
    return by_call


def save_graph(graph: graphviz.Digraph, path: str, format: str = "svg") -> str:
    """Write ``graph`` to ``path`` as ``svg`` or ``png`` (drawn by Graphviz's
    ``dot`` program), or as ``dot`` (its DOT source, no program needed); return
    the file written.

    Raises:
        ShapetraceError: ``svg``/``png`` without ``dot`` on PATH (one line: how
            to install Graphviz, or ``format="dot"``), as the command refuses
            ``--format svg`` up front; an unknown ``format``.
    """
    if format == "dot":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(graph.source)
        return path
    if format not in ("svg", "png"):
        raise ShapetraceError(f'save_graph(): format is "svg", "png" or "dot", not {format!r}')
    if shutil.which("dot") is None:
        raise ShapetraceError(
            f"save_graph(): making {format} needs Graphviz's dot program; {INSTALL_DOT} "
            '(or pass format="dot" to write the DOT source)'
        )
    with open(path, "wb") as handle:
        handle.write(graph.pipe(format=format))
    return path
