"""Edge indexing of a DARTS cell, shared by the encoding and the supernets.

A cell has inputs 0 (``c_{k-2}``) and 1 (``c_{k-1}``) and intermediate nodes
2..5; node ``n`` may take any of the ``n`` earlier states as input, giving
2 + 3 + 4 + 5 = 14 edges. They are ordered node by node, inputs ascending
(node 2: inputs 0, 1; node 3: inputs 0, 1, 2; ...), which is the order of the
reference's ``alphas`` rows, so the one-hot bit of operation ``op`` on edge
``e`` is ``e * len(PRIMITIVES) + PRIMITIVES.index(op)``.
"""

from __future__ import annotations

from nascost_darts.ops import PRIMITIVES

#: Intermediate nodes per cell (the reference's ``steps``).
STEPS = 4
#: Index of the first intermediate node (0 and 1 are the cell inputs).
FIRST_NODE = 2
#: Every intermediate node's id.
NODES: list[int] = list(range(FIRST_NODE, FIRST_NODE + STEPS))
#: ``(node, input)`` of each edge, in encoding / alpha-row order.
EDGES: list[tuple[int, int]] = [(node, inp) for node in NODES for inp in range(node)]
NUM_EDGES = len(EDGES)  # 14
NUM_OPS = len(PRIMITIVES)  # 8
#: Bits of one cell's encoding (14 x 8 = 112).
CELL_BITS = NUM_EDGES * NUM_OPS


def node_offset(node: int) -> int:
    """Index of the first edge entering ``node``."""
    if node not in NODES:
        raise ValueError(f"node must be one of {NODES}, got {node}")
    return (node - FIRST_NODE) * (node + FIRST_NODE - 1) // 2


def edge_index(node: int, input: int) -> int:
    """Index of the edge from state ``input`` into intermediate ``node``."""
    if not 0 <= input < node:
        raise ValueError(f"node {node} takes inputs 0..{node - 1}, got {input}")
    return node_offset(node) + input


def bit_index(node: int, input: int, op: str) -> int:
    """Index of the one-hot bit of ``op`` on edge ``(node, input)`` within one cell."""
    return edge_index(node, input) * NUM_OPS + PRIMITIVES.index(op)
