"""Reading a drawn graph back with a DOT parser, to check it honestly.

The parser follows DOT's grammar (tokens, then node, edge, attribute and
subgraph statements; a statement may span lines, a label may hold quotes):
pydot's pyparsing grammar takes ~25 s for a 5 KB graph, this one milliseconds.

``check_graph`` asserts what issue 18 asks of every graph: each edge joins two
declared nodes (an edge to an undeclared name would make Graphviz invent a
bare node), each declared node is on an edge, and each input of a drawn call
has an edge into it (from its producer, a graph input, or a "not recorded"
stub) carrying that input's shape.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import shapetrace
from shapetrace.core.text import format_shape


@dataclasses.dataclass
class ParsedGraph:
    nodes: dict[str, str]  # node id -> its label
    edges: list[tuple[str, str, str, dict[str, str]]]  # tail, head, label, other attributes
    # node id -> the names of the subgraphs it is declared in, outermost first
    clusters: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)  # subgraph name -> its label


# DOT's lexical grammar (graphviz.org/doc/info/lang.html), minus HTML strings,
# which the writer never produces: an unknown character fails the parse.
_TOKEN = re.compile(
    r"""(?P<skip>\s+|//[^\n]*|/\*.*?\*/|^\#[^\n]*)
      |(?P<string>"(?:[^"\\]|\\.)*")
      |(?P<punct>->|--|[{}\[\];,=:])
      |(?P<id>[A-Za-z_\x80-\uffff][\w\x80-\uffff]*|-?(?:\.\d+|\d+(?:\.\d*)?))""",
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
_KEYWORDS = {"graph", "digraph", "subgraph", "node", "edge", "strict"}


def _tokens(source: str) -> list[tuple[str, str]]:
    """(kind, text) of each token; ``kind`` is ``id`` (a quoted string too), ``punct`` or ``kw``."""
    found, at = [], 0
    while at < len(source):
        match = _TOKEN.match(source, at)
        assert match is not None, f"DOT: cannot read {source[at:at + 40]!r}"
        at = match.end()
        kind = match.lastgroup
        if kind == "skip":
            continue
        text = match.group()
        if kind == "string":
            found.append(("id", _unquote(text)))
        elif kind == "id" and text.lower() in _KEYWORDS:
            found.append(("kw", text.lower()))
        else:
            found.append(("punct" if kind == "punct" else "id", text))
    return found


def _unquote(text: str) -> str:
    """A quoted DOT string's value: ``\\"`` is a quote; ``\\n``/``\\l``/``\\r`` line breaks."""
    body = text[1:-1].replace("\\\n", "")  # a backslash-newline continues the line
    out, escaped = [], False
    for char in body:
        if escaped:
            out.append({"n": "\n", "l": "\n", "r": "\n", '"': '"'}.get(char, "\\" + char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


class _Parser:
    """A recursive-descent reader of DOT's statements (node, edge, attribute, subgraph)."""

    def __init__(self, source: str) -> None:
        self.tokens, self.at = _tokens(source), 0
        self.graph = ParsedGraph({}, [])
        self.inside: list[str] = []  # the subgraphs open at this point

    def peek(self, offset: int = 0) -> tuple[str, str]:
        at = self.at + offset
        return self.tokens[at] if at < len(self.tokens) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        assert token[0] != "end", "DOT: unexpected end"
        assert text is None or token[1] == text, f"DOT: expected {text!r}, found {token[1]!r}"
        self.at += 1
        return token

    def parse(self) -> ParsedGraph:
        if self.peek() == ("kw", "strict"):
            self.take()
        assert self.take()[1] == "digraph", "DOT: not a digraph"
        if self.peek()[0] == "id":
            self.take()
        self.block()
        assert self.peek()[0] == "end", f"DOT: text after the graph: {self.peek()[1]!r}"
        return self.graph

    def block(self) -> None:
        self.take("{")
        while self.peek()[1] != "}":
            self.statement()
            if self.peek()[1] == ";":
                self.take()
        self.take("}")

    def attributes(self) -> dict[str, str]:
        attrs: dict[str, str] = {}
        while self.peek()[1] == "[":
            self.take("[")
            while self.peek()[1] != "]":
                key = self.take()[1]
                self.take("=")
                attrs[key] = self.take()[1]
                if self.peek()[1] in (",", ";"):
                    self.take()
            self.take("]")
        return attrs

    def statement(self) -> None:
        kind, text = self.peek()
        if kind == "kw" and text in ("graph", "node", "edge"):
            self.take()
            self.attributes()
        elif (kind == "kw" and text == "subgraph") or text == "{":
            name = ""
            if text == "subgraph":
                self.take()
                if self.peek()[0] == "id":
                    name = self.take()[1]
            self.inside.append(name)
            self.block()
            self.inside.pop()
        elif self.peek(1)[1] == "=":  # a graph attribute: label="..."
            key = self.take()[1]
            self.take("=")
            value = self.take()[1]
            if key == "label" and self.inside:
                self.graph.labels[self.inside[-1]] = value
        else:
            chain = [self.node_id()]
            while self.peek()[1] == "->":
                self.take()
                chain.append(self.node_id())
            attrs = self.attributes()
            if len(chain) == 1:
                self.graph.nodes[chain[0]] = attrs.get("label", chain[0])
                self.graph.clusters[chain[0]] = tuple(self.inside)
            else:
                label = attrs.pop("label", "")
                for tail, head in itertools.pairwise(chain):
                    self.graph.edges.append((tail, head, label, attrs))

    def node_id(self) -> str:
        kind, text = self.take()
        assert kind == "id", f"DOT: expected a node id, found {text!r}"
        if self.peek()[1] == ":":  # a port
            self.take(), self.take()
        return text


def parse_dot(source: str) -> ParsedGraph:
    """Every node statement and edge statement of ``source``, in every subgraph."""
    return _Parser(source).parse()


def check_graph(trace: shapetrace.Trace, source: str, *, what: str = "") -> ParsedGraph:
    """Assert the graph of ``trace`` (its DOT ``source``) has no dangling node or edge
    and that every input of every drawn call node arrives on an edge of its own with
    its shape: two inputs (a loss's prediction and its target, both ``(6,)``) need two
    edges into the node, one tensor passed twice (``x * x``) one."""
    graph = parse_dot(source)
    ends = {end for tail, head, _, _ in graph.edges for end in (tail, head)}
    assert ends <= set(graph.nodes), f"{what}: edges name undeclared nodes {sorted(ends - set(graph.nodes))[:8]}"
    assert set(graph.nodes) <= ends, f"{what}: nodes on no edge {sorted(set(graph.nodes) - ends)[:8]}"
    into: dict[str, list[str]] = {}
    for _, head, label, _ in graph.edges:
        into.setdefault(head, []).append(label)
    for node in graph.nodes:
        if not (node.startswith("c") and node[1:].isdigit()):
            continue  # a graph input/output or a "not recorded" stub
        call = trace.calls[int(node[1:])]
        labels = into.get(node, [])
        ids = call.input_ids
        inputs = [meta for k, meta in enumerate(call.inputs) if not ids or ids[k] not in ids[:k]]
        for meta in inputs:
            shape = format_shape(meta)
            assert any(shape in label for label in labels), (
                f"{what}: input {meta.path} {shape} of {call.name or call.type} ({node}) has no edge; "
                f"edges in: {labels}"
            )
        unmatched = _unmatched(inputs, labels)
        assert not unmatched, (
            f"{what}: inputs {[f'{m.path} {format_shape(m)}' for m in unmatched]} of {call.name or call.type} "
            f"({node}) share an edge with another input; edges in: {labels}"
        )
    return graph


def _unmatched(inputs: list, labels: list[str]) -> list:
    """The inputs left without an edge of their own when each input takes a
    distinct edge whose label shows its shape (a maximum bipartite matching);
    an edge that counts the steps of a folded run (``59 × (5, 1)`` into
    ``cat(outputs)``) stands for that many inputs."""
    labels = [label for label in labels for _ in range(_count(label))]
    taken: dict[int, int] = {}  # edge position -> input position

    def place(k: int, seen: set[int]) -> bool:
        shape = format_shape(inputs[k])
        for e, label in enumerate(labels):
            if shape in label and e not in seen:
                seen.add(e)
                if e not in taken or place(taken[e], seen):
                    taken[e] = k
                    return True
        return False

    return [meta for k, meta in enumerate(inputs) if not place(k, set())]


def _count(label: str) -> int:
    """How many inputs an edge stands for: ``N`` for ``[name ]N × (shape)``, else 1."""
    found = re.match(r"(?:\S+ )?(\d+) × \(", label)
    return int(found.group(1)) if found else 1
