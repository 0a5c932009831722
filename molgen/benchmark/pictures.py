"""Pictures of what was generated: a grid of 2D depictions of molecules (RDKit alone) and, per
backbone design, its DSSP strip above its CA contact map (matplotlib, ``molgen[bench]``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

from molgen.runtime import atomic_path
from molgen.structures.backbone import Backbone
from molgen.structures.secondary_structure import secondary_structure

GRID_MOLECULES = 24  # molecules in a grid
GRID_COLUMNS = 6
PANEL = (250, 220)  # pixels per molecule
PLOT_DESIGNS = 8  # designs in a backbone plot
CONTACT_CUTOFF = 8.0  # Angstrom between CA atoms
SS_COLOURS = {"H": "#d62728", "E": "#1f77b4", "L": "#d9d9d9"}


def molecule_grid(mols: Sequence[Chem.Mol | None], legends: Sequence[str], path: str | os.PathLike) -> None:
    """A PNG of 2D depictions (hydrogens hidden, ``GRID_COLUMNS`` per row) with a legend each;
    a record that cannot be drawn (None, or RDKit refuses) stays an empty panel with its legend."""
    if not mols:
        raise ValueError("no molecules to draw")
    rows = -(-len(mols) // GRID_COLUMNS)
    columns = min(len(mols), GRID_COLUMNS)
    drawer = rdMolDraw2D.MolDraw2DCairo(columns * PANEL[0], rows * PANEL[1], *PANEL)
    drawer.drawOptions().prepareMolsBeforeDrawing = False
    drawer.drawOptions().legendFontSize = 14
    drawer.DrawMolecules([_drawable(m) for m in mols], legends=list(legends))
    drawer.FinishDrawing()
    with atomic_path(path) as tmp:
        tmp.write_bytes(drawer.GetDrawingText())


def _drawable(mol: Chem.Mol | None) -> Chem.Mol:
    """A copy with 2D coordinates, hydrogens removed where RDKit can (an empty Mol if it cannot)."""
    if mol is None:
        return Chem.Mol()
    with rdBase.BlockLogs():  # invalid molecules are drawn as they are, without complaint
        copy = Chem.Mol(mol)
        sane = Chem.SanitizeMol(copy, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE
        copy.UpdatePropertyCache(strict=False)
        try:
            copy = Chem.RemoveHs(copy, sanitize=False)
            rdDepictor.Compute2DCoords(copy)
            return rdMolDraw2D.PrepareMolForDrawing(copy, kekulize=sane)
        except (RuntimeError, ValueError):
            return Chem.Mol()


def backbone_plot(
    designs: Sequence[Backbone],
    names: Sequence[str],
    path: str | os.PathLike,
    reference: tuple[float, float] | None = None,
) -> None:
    """A PNG: for each of the first ``PLOT_DESIGNS`` designs its DSSP strip (helix red, strand
    blue, loop grey) above its CA contact map (< ``CONTACT_CUTOFF`` A), and a last panel with
    the helix and strand shares of all designs against ``reference`` (real chains' shares)."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    if not designs:
        raise ValueError("no designs to plot")
    shown = list(zip(designs, names))[:PLOT_DESIGNS]
    count = len(shown) + 1
    columns = min(count, 3)
    rows = -(-count // columns)
    fig = plt.figure(figsize=(3.4 * columns, 3.6 * rows))
    outer = fig.add_gridspec(rows, columns, hspace=0.35, wspace=0.35)
    cells = [
        outer[k // columns, k % columns].subgridspec(2, 1, height_ratios=[1, 12], hspace=0.04)
        for k in range(count)
    ]
    colours = ListedColormap([SS_COLOURS[k] for k in "HEL"])
    for cell, (design, name) in zip(cells, shown):
        ss = secondary_structure(design)
        strip = fig.add_subplot(cell[0])
        strip.imshow(np.array([["HEL".index(c) for c in ss]]), cmap=colours, vmin=0, vmax=2, aspect="auto")
        strip.set_axis_off()
        strip.set_title(f"{name} ({len(design)} residues)", fontsize=8)
        ca = design.ca
        contacts = np.linalg.norm(ca[:, None] - ca[None], axis=-1) < CONTACT_CUTOFF
        ax = fig.add_subplot(cell[1])
        ax.imshow(contacts, cmap="Greys", interpolation="nearest")
        ax.tick_params(labelsize=7)
    ax = fig.add_subplot(cells[-1][1])
    strings = "".join(secondary_structure(d) for d in designs)
    shares = {"designs": (strings.count("H") / len(strings), strings.count("E") / len(strings))}
    if reference is not None:
        shares["real chains"] = reference
    xs = np.arange(2)
    for offset, (label, (helix, strand)) in enumerate(shares.items()):
        ax.bar(xs + 0.4 * offset, [helix, strand], width=0.4, label=label)
    ax.set_xticks(xs + 0.2 * (len(shares) - 1), ["helix", "strand"])
    ax.set(ylabel="share of residues (DSSP)", ylim=(0, 1))
    ax.legend(fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a clear error naming the extra that installs it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise ModuleNotFoundError("plots need matplotlib: pip install 'molgen[bench]'") from None
    return plt
