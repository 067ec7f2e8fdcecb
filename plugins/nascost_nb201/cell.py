"""NAS-Bench-201 cells: operations, edges, the string form, validation and the encoding.

A cell is a DAG of 4 nodes; node 0 is the cell input, node 3 its output, and every
node ``i`` sums one operation on each earlier node ``j < i``: 6 edges, each one of
5 operations, 5^6 = 15,625 cells. Everything here follows the NAS-Bench-201
reference implementation (D-X-Y/AutoDL-Projects):

- operations in the reference order, ``NAS_BENCH_201`` in ``models/cell_operations.py``:
  ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``;
- the string form of ``models/cell_searchs/genotypes.py`` (``Structure.tostr``):
  one ``|op~j|`` group per incoming edge, nodes joined by ``+``, node 1 first;
- edges in the order of the reference supernet's ``edge2index`` (its sorted keys
  ``"i<-j"``): 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. The encoding is 6 x 5 one-hot
  bits in that order, bit ``edge * 5 + operation``.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from nascost.errors import NascostError

#: The NAS-Bench-201 operations, in the reference order (fixes the encoding).
OPERATIONS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Nodes of a cell: 0 is the input, 3 the output.
NODES = 4
#: ``(node, input)`` of each edge, in the reference's edge order.
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(1, NODES) for j in range(i))
NUM_EDGES = len(EDGES)  # 6
NUM_OPS = len(OPERATIONS)  # 5
ENCODING_DIM = NUM_EDGES * NUM_OPS  # 30
NUM_CELLS = NUM_OPS**NUM_EDGES  # 15,625

#: A cell as the operation on each edge, in :data:`EDGES` order.
Cell = tuple[str, ...]


def format_cell(ops: Sequence[str]) -> str:
    """The NAS-Bench-201 string of a cell: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    groups = []
    for node in range(1, NODES):
        parts = [f"{ops[e]}~{j}" for e, (i, j) in enumerate(EDGES) if i == node]
        groups.append("|" + "|".join(parts) + "|")
    return "+".join(groups)


def _unknown(op: str, where: str) -> NascostError:
    close = difflib.get_close_matches(op, OPERATIONS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return NascostError(f"{where}: unknown operation {op!r} (operations: {', '.join(OPERATIONS)}){hint}")


def parse_cell(text: str) -> Cell:
    """Parse a NAS-Bench-201 string; one line naming the problem when it is not a cell."""
    if not isinstance(text, str):
        raise NascostError(f"a NAS-Bench-201 cell is a string like {format_cell(['nor_conv_3x3'] * 6)!r}")
    s = text.strip()
    groups = s.split("+")
    if len(groups) != NODES - 1:
        raise NascostError(
            f"cell {text!r}: {len(groups)} node group(s) joined by '+', a NAS-Bench-201 cell has {NODES - 1} "
            "(nodes 1, 2 and 3)"
        )
    ops: dict[tuple[int, int], str] = {}
    for node, group in enumerate(groups, 1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise NascostError(f"cell {text!r}: node {node} group {group!r} must look like '|op~0|op~1|'")
        items = group[1:-1].split("|")
        for item in items:
            op, sep, src = item.partition("~")
            if not sep:
                raise NascostError(f"cell {text!r}: node {node}: {item!r} is not 'op~input'")
            if op not in OPERATIONS:
                raise _unknown(op, f"cell {text!r}, node {node}")
            try:
                j = int(src)
            except ValueError:
                raise NascostError(f"cell {text!r}: node {node}: input {src!r} is not a node number") from None
            if not 0 <= j < node:
                raise NascostError(f"cell {text!r}: node {node} takes inputs 0..{node - 1}, got input {j}")
            if (node, j) in ops:
                raise NascostError(f"cell {text!r}: node {node} has two edges from node {j}")
            ops[(node, j)] = op
        missing = [j for j in range(node) if (node, j) not in ops]
        if missing:
            raise NascostError(
                f"cell {text!r}: node {node} has no edge from node(s) {', '.join(map(str, missing))}; every node "
                "takes one edge from each earlier node (use 'none' for an absent one)"
            )
    return tuple(ops[edge] for edge in EDGES)


def check_ops(ops: Sequence[str], where: str = "cell") -> Cell:
    """Validate a cell given as its 6 edge operations."""
    if isinstance(ops, str) or len(ops) != NUM_EDGES:
        raise NascostError(f"{where}: a cell has {NUM_EDGES} edge operations, got {ops!r}")
    for op in ops:
        if op not in OPERATIONS:
            raise _unknown(str(op), where)
    return tuple(ops)


def encode_cell(ops: Cell) -> np.ndarray:
    """30 one-hot bits: edge ``e`` chose operation ``k`` -> bit ``e * 5 + k``."""
    bits = np.zeros(ENCODING_DIM, dtype=np.float32)
    for e, op in enumerate(ops):
        bits[e * NUM_OPS + OPERATIONS.index(op)] = 1.0
    return bits


def decode_cell(bits: np.ndarray) -> Cell:
    """Inverse of :func:`encode_cell`; every edge needs exactly one bit set."""
    arr = np.asarray(bits, dtype=np.float32).reshape(-1)
    if arr.size != ENCODING_DIM:
        raise NascostError(f"a NAS-Bench-201 encoding has {ENCODING_DIM} values, got {arr.size}")
    if not np.all((arr == 0) | (arr == 1)):
        raise NascostError("a NAS-Bench-201 encoding holds only 0s and 1s")
    grid = arr.reshape(NUM_EDGES, NUM_OPS)
    ops = []
    for e, (i, j) in enumerate(EDGES):
        ones = np.flatnonzero(grid[e])
        if len(ones) != 1:
            raise NascostError(f"edge {i}<-{j} has {len(ones)} operations set; a cell has exactly 1 per edge")
        ops.append(OPERATIONS[int(ones[0])])
    return tuple(ops)


def all_cells() -> Iterator[Cell]:
    """Every cell once: edges in :data:`EDGES` order, operations in reference order (the last edge fastest)."""
    yield from itertools.product(OPERATIONS, repeat=NUM_EDGES)


def effective_edges(ops: Cell) -> set[int]:
    """Edges that lie on a path from the input to the output through non-``none`` edges.

    Other edges compute nothing that reaches the output (a cell with no such path
    outputs zeros): why a cell's FLOPs can be smaller than its operations suggest.
    """
    live = [e for e, op in enumerate(ops) if op != "none"]
    reach_from_input = {0}
    for e in live:  # EDGES are in topological order of their target nodes
        i, j = EDGES[e]
        if j in reach_from_input:
            reach_from_input.add(i)
    reach_output = {NODES - 1}
    for e in reversed(live):
        i, j = EDGES[e]
        if i in reach_output:
            reach_output.add(j)
    return {e for e in live if EDGES[e][1] in reach_from_input and EDGES[e][0] in reach_output}


def isomorphism_key(ops: Cell) -> str:
    """A key shared by cells that compute the same function: the reference's isomorphism test.

    Faithful to ``CellStructure.to_unique_str(consider_zero=True)`` of D-X-Y/AutoDL-Projects
    (``models/cell_searchs/genotypes.py``): each node is the sorted ``+``-join of one term per
    incoming edge; a skip connection is its input's term, a ``none`` edge or an edge from a
    node whose term is the zero ``#`` is ``#``, any other operation ``(input)@op``; the key is
    node 3's. So edges that reach no output, the order of a sum and skips are ignored. As in
    the reference, a node is zero downstream only when its term is a single ``#`` (node 1),
    not a sum of zeros. Why: cells with one key were trained separately for the benchmark,
    so the spread of their accuracies is the table's own noise.
    """
    terms = ["0"]
    for node in range(1, NODES):
        parts = []
        for e, (i, j) in enumerate(EDGES):
            if i != node:
                continue
            if ops[e] == "none" or terms[j] == "#":
                parts.append("#")
            elif ops[e] == "skip_connect":
                parts.append(terms[j])
            else:
                parts.append(f"({terms[j]})@{ops[e]}")
        terms.append("+".join(sorted(parts)))
    return terms[-1]
