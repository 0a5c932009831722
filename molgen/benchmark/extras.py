"""Optional scorers from field libraries (``pip install 'molgen[bench]'``): FCD and PoseBusters."""

from __future__ import annotations

import math

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator


def internal_diversity(smiles: list[str], max_molecules: int = 1000, seed: int = 0) -> float:
    """1 - mean pairwise Tanimoto similarity (Morgan radius 2, 2048 bits) of up to
    ``max_molecules`` SMILES drawn with ``seed``; NaN for fewer than two molecules."""
    rng = np.random.default_rng(seed)
    chosen = sorted(smiles)
    if len(chosen) > max_molecules:
        chosen = [chosen[i] for i in rng.choice(len(chosen), max_molecules, replace=False)]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    with rdBase.BlockLogs():
        fps = [generator.GetFingerprint(m) for m in map(Chem.MolFromSmiles, chosen) if m is not None]
    if len(fps) < 2:
        return math.nan
    total = sum(sum(DataStructs.BulkTanimotoSimilarity(fp, fps[i + 1 :])) for i, fp in enumerate(fps[:-1]))
    return 1.0 - total / (len(fps) * (len(fps) - 1) / 2)


def fcd_score(
    generated: list[str], reference: list[str], max_molecules: int = 10_000, seed: int = 0
) -> float:
    """Frechet ChemNet Distance (Preuer et al. 2018) via the ``fcd`` package (weights ship in
    its wheel); each side subsampled to ``max_molecules`` with ``seed``."""
    try:
        import fcd
    except ModuleNotFoundError:
        raise ModuleNotFoundError("--fcd needs the fcd package: pip install 'molgen[bench]'") from None
    rng = np.random.default_rng(seed)

    def subsample(items: list[str]) -> list[str]:
        items = sorted(items)
        if len(items) <= max_molecules:
            return items
        return [items[i] for i in rng.choice(len(items), max_molecules, replace=False)]

    if len(generated) < 2 or len(reference) < 2:
        raise ValueError("FCD needs at least two valid generated and two reference molecules")
    return float(fcd.get_fcd(subsample(generated), subsample(reference)))


def posebusters_pass_rate(mols: list[Chem.Mol | None]) -> dict:
    """Fraction of molecules passing every check of ``PoseBusters(config="mol")``; ``None``
    entries (unreadable or unsanitisable molecules) count as failures."""
    try:
        from posebusters import PoseBusters
    except ModuleNotFoundError:
        raise ModuleNotFoundError("--posebusters needs posebusters: pip install 'molgen[bench]'") from None
    checkable = [m for m in mols if m is not None]
    passed = 0
    if checkable:
        table = PoseBusters(config="mol").bust(checkable)
        passed = int(table.fillna(False).astype(bool).all(axis=1).sum())
    return {"value": passed / len(mols) if mols else math.nan, "numerator": passed, "denominator": len(mols)}
