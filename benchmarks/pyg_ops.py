"""PyG's graph operations against molgen's hand-written ones, on molgen's shapes (prints a table).

    python benchmarks/pyg_ops.py [--threads 2] [--repeats 30]

Each row times one operation both ways in the same run (forward + backward where the operation
is on the training path), on a batch of 256 QM9-sized molecules (about 18 atoms, all pairs as
edges, 128 features): hand-written torch and PyG. The ratio column is hand-written / PyG (above 1:
PyG is faster); the last column says which one molgen uses. README's Dependencies table cites
this script for each hand-written operation that stays.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter, to_dense_batch

from molgen.core.graph import batch_vector, full_edges, remove_mean
from molgen.datasets.qm9 import load_qm9_subset
from molgen.training.losses import graph_mean


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after two warm-ups."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def with_backward(op, values: torch.Tensor):
    """A closure running ``op(values)`` forward and backward."""

    def run():
        values.grad = None
        op(values).square().sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_qm9_subset("train")
    picked = np.arange(256)
    counts = torch.as_tensor(data.num_atoms[picked])
    batch = batch_vector(counts)
    src, dst = full_edges(counts)
    gen = torch.Generator().manual_seed(0)
    edge_values = torch.randn(len(src), 128, generator=gen, requires_grad=True)
    node_values = torch.randn(len(batch), 128, generator=gen, requires_grad=True)
    pos = torch.randn(len(batch), 3, generator=gen, requires_grad=True)
    inv_count = 1.0 / torch.bincount(dst, minlength=len(batch)).clamp(min=1).float()[:, None]
    graphs = len(counts)

    dataset = [  # what a PyG dataset of molecules holds
        Data(pos=torch.as_tensor(data.pos[a:b]), z=torch.as_tensor(data.atomic_numbers[a:b]).long())
        for a, b in zip(data.offsets[:-1], data.offsets[1:])
    ]

    def pyg_batch():
        return Batch.from_data_list([dataset[i] for i in picked])

    def molgen_batch():
        rows, slot = data.atom_rows(picked)
        return (
            torch.as_tensor(data.pos[rows]),
            torch.as_tensor(data.atomic_numbers[rows]),
            torch.as_tensor(slot),
        )

    def molgen_dense(v):
        size = int(counts.max())
        slot = torch.arange(len(batch)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        out = v.new_zeros(graphs, size, v.shape[1])
        out[batch, slot] = v
        return out

    def index_add_mean(v):
        out = v.new_zeros(len(batch), v.shape[1])
        return out.index_add_(0, dst, v) * inv_count

    rows = [  # (operation, hand-written, PyG, what molgen uses)
        (
            "edge -> node mean (message aggregation; `models.layers.scatter_mean`)",
            with_backward(index_add_mean, edge_values),
            with_backward(lambda v: scatter(v, dst, 0, len(batch), reduce="sum") * inv_count, edge_values),
            "PyG",
        ),
        (
            "node -> graph mean (losses; `training.losses.graph_mean`)",
            with_backward(lambda v: graph_mean(v, batch, graphs), node_values),
            with_backward(lambda v: scatter(v, batch, 0, graphs, reduce="mean"), node_values),
            "hand-written",
        ),
        (
            "zero centre of mass per graph (`core.graph.remove_mean`)",
            with_backward(lambda p: remove_mean(p, batch, graphs), pos),
            with_backward(lambda p: p - scatter(p, batch, 0, graphs, reduce="mean")[batch], pos),
            "hand-written",
        ),
        (
            "node features -> dense [G, N_max, F] (not needed by molgen)",
            with_backward(molgen_dense, node_values),
            with_backward(lambda v: to_dense_batch(v, batch, batch_size=graphs)[0], node_values),
            "neither",
        ),
        (
            "batching 256 molecules (pos, z; `PackedMolecules.atom_rows`)",
            molgen_batch,
            pyg_batch,
            "hand-written",
        ),
    ]
    print(f"{graphs} molecules, {len(batch)} atoms, {len(src)} edges; {args.threads} threads\n")
    print("| operation | hand-written (ms) | PyG (ms) | hand-written / PyG | molgen uses |")
    print("|---|---|---|---|---|")
    for name, ours, theirs, used in rows:
        a, b = timed(ours, args.repeats), timed(theirs, args.repeats)
        print(f"| {name} | {1e3 * a:.3f} | {1e3 * b:.3f} | {a / b:.2f} | {used} |", flush=True)


if __name__ == "__main__":
    main()
