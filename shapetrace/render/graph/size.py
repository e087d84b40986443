"""How much work a graph is for ``dot``, before asking it.

``dot`` places nodes on ranks and routes every edge that spans several ranks
through a chain of virtual nodes, one per rank crossed; its crossing
minimisation grows much faster than linearly in those. A 150-node graph whose
edges run from one ``split`` to each of 50 loop steps and from each back to one
``cat`` is 7,000 virtual nodes and takes minutes; a 200-node chain of layers is
200 and takes a fraction of a second. ``layout_size`` counts nodes plus
virtual nodes on the ranks a longest-path layering gives (what ``dot`` starts
from), without running ``dot``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable

# The limit ``trace_graph`` checks ``layout_size`` against: named and measured in
# core/options.py (benchmarks/graph_size.py: dot takes about 3 CPU seconds there).
from shapetrace.core.options import MAX_LAYOUT_SIZE as MAX_LAYOUT_SIZE


def layout_size(edges: Iterable[tuple[Hashable, Hashable]]) -> int:
    """Nodes plus virtual nodes of a layered drawing of ``edges`` (tail, head).

    >>> layout_size([("a", "b"), ("b", "c"), ("a", "c")])   # a -> c crosses b's rank
    4
    """
    successors: dict[Hashable, list[Hashable]] = defaultdict(list)
    nodes: dict[Hashable, None] = {}
    pairs = []
    for tail, head in edges:
        nodes[tail] = nodes[head] = None
        if tail != head:
            successors[tail].append(head)
            pairs.append((tail, head))
    rank = _ranks(nodes, successors)
    return len(nodes) + sum(max(abs(rank[head] - rank[tail]) - 1, 0) for tail, head in pairs)


def _ranks(nodes: dict[Hashable, None], successors: dict[Hashable, list[Hashable]]) -> dict[Hashable, int]:
    """Longest-path rank of each node (edges closing a cycle are ignored)."""
    order: list[Hashable] = []
    state: dict[Hashable, int] = {}  # 1: on the stack, 2: done
    for start in nodes:
        if start in state:
            continue
        stack = [(start, iter(successors.get(start, ())))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[node] = 2
                order.append(node)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(successors.get(child, ()))))
    rank = dict.fromkeys(nodes, 0)
    position = {node: k for k, node in enumerate(reversed(order))}
    for node in reversed(order):  # a topological order, back edges aside
        for child in successors.get(node, ()):
            if position[child] > position[node]:
                rank[child] = max(rank[child], rank[node] + 1)
    return rank
