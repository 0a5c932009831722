"""Properties of molecules predicted by a trained property regressor (EDM's evaluation of
property-conditioned generation: the regressor learned from molecules the generator never saw)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from molgen.core.graph import batch_vector
from molgen.models.pretrained import load_pretrained


class PropertyPredictor:
    """A loaded property regressor.

    >>> pred = PropertyPredictor("qm9-heavy-regressor")      # doctest: +SKIP
    >>> pred.predict(mols)["alpha"]                          # doctest: +SKIP
    """

    def __init__(self, name_or_path: str | Path, device: str | torch.device = "cpu") -> None:
        self.config, self.net, self.stats, self.info = load_pretrained(name_or_path, kind="regressor")
        self.device = torch.device(device)
        self.net.to(self.device)
        self.properties = list(self.config.properties)
        self.vocab = list(self.config.vocab)

    def predict(self, mols: Sequence[Chem.Mol], batch_size: int = 512) -> dict[str, np.ndarray]:
        """Property name -> ``[len(mols)]`` predictions in the property's units (NaN for a
        molecule with no atoms the regressor reads or an element outside its vocabulary)."""
        encoded = [self._encode(m) for m in mols]
        out = np.full((len(mols), len(self.properties)), np.nan)
        ok = [i for i, e in enumerate(encoded) if e is not None]
        for start in range(0, len(ok), batch_size):
            rows = ok[start : start + batch_size]
            out[rows] = self._predict_batch([encoded[i] for i in rows])
        return {name: out[:, j] for j, name in enumerate(self.properties)}

    def _encode(self, mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray] | None:
        """(type indices ``[n]``, centred coordinates in model units ``[n, 3]``) of the atoms the
        regressor reads, or None when it cannot read the molecule."""
        if mol is None or mol.GetNumConformers() == 0:
            return None
        symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        keep = [i for i, s in enumerate(symbols) if s != "H" or self.config.hydrogens == "explicit"]
        if not keep or any(symbols[i] not in self.vocab for i in keep):
            return None
        pos = mol.GetConformer().GetPositions()[keep]
        types = np.array([self.vocab.index(symbols[i]) for i in keep])
        return types, (pos - pos.mean(0)) / self.stats.coord_scale

    @torch.no_grad()
    def _predict_batch(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """``[len(items), num_properties]`` predictions in property units for encoded molecules."""
        counts = torch.tensor([len(t) for t, _ in items])
        types = torch.from_numpy(np.concatenate([t for t, _ in items]))
        pos = torch.from_numpy(np.concatenate([p for _, p in items])).float()
        feat = torch.nn.functional.one_hot(types, len(self.vocab)).float()
        batch = batch_vector(counts)
        pred = (
            self.net(pos.to(self.device), feat.to(self.device), batch.to(self.device), len(counts))
            .cpu()
            .numpy()
        )
        mean = np.array([self.stats.properties[k].mean for k in self.properties])
        std = np.array([self.stats.properties[k].std for k in self.properties])
        return pred * std + mean
