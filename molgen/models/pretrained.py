"""Model folders: ``config.json`` + ``model.safetensors`` + ``stats.json`` (no pickle anywhere).

``stats.json`` holds what the training data taught besides weights: the atom-count histogram
(used to draw molecule sizes) and the coordinate scale (Angstrom per model unit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from molgen.config import BackboneModelConfig, ModelConfig, from_dict, to_dict
from molgen.models.backbone_denoiser import BackboneDenoiser
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.runtime import atomic_path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"

# model kind -> (config class, denoiser class); config.json's "kind" (default "molecules")
MODEL_KINDS = {
    "molecules": (ModelConfig, MoleculeDenoiser),
    "backbones": (BackboneModelConfig, BackboneDenoiser),
}
AnyModelConfig = ModelConfig | BackboneModelConfig


def model_kind(config: AnyModelConfig) -> str:
    return next(kind for kind, (cls, _) in MODEL_KINDS.items() if isinstance(config, cls))


def build_denoiser(config: AnyModelConfig) -> torch.nn.Module:
    """A freshly initialised denoiser for a model config of either kind."""
    return MODEL_KINDS[model_kind(config)][1](config.denoiser)


@dataclass
class DataStats:
    """Statistics of the training set saved with a model.

    Attributes:
        num_atoms_hist: ``{num_atoms: count}`` over training molecules (residues per chain
            for backbone models).
        coord_scale: Angstrom per model unit (molecules: RMS of centred coordinates per axis).
    """

    num_atoms_hist: dict[int, int]
    coord_scale: float

    @classmethod
    def from_dataset(cls, num_atoms: np.ndarray, centred_pos: np.ndarray) -> DataStats:
        values, counts = np.unique(num_atoms, return_counts=True)
        return cls(
            num_atoms_hist={int(v): int(c) for v, c in zip(values, counts)},
            coord_scale=float(np.sqrt(np.mean(centred_pos.astype(np.float64) ** 2))),
        )

    def to_json(self) -> dict:
        return {
            "num_atoms_hist": {str(k): v for k, v in self.num_atoms_hist.items()},
            "coord_scale": self.coord_scale,
        }

    @classmethod
    def from_json(cls, data: dict) -> DataStats:
        return cls({int(k): int(v) for k, v in data["num_atoms_hist"].items()}, float(data["coord_scale"]))


def save_pretrained(
    out_dir: str | Path,
    config: AnyModelConfig,
    net: torch.nn.Module,
    stats: DataStats,
    info: dict | None = None,
) -> Path:
    """Write a model folder atomically file by file; ``info`` goes into config.json's ``training``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    _write_json(out / "stats.json", stats.to_json())
    meta = {"kind": model_kind(config), "model": to_dict(config), "training": info or {}}
    _write_json(out / "config.json", meta)
    return out


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """A bundled model name (e.g. ``"qm9"``) or a folder path -> the model folder."""
    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return path
    bundled = PRETRAINED_DIR / str(name_or_path)
    if (bundled / "config.json").is_file():
        return bundled
    names = sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())
    raise ValueError(f"no model {str(name_or_path)!r}: not a model folder, and bundled models are {names}")


def load_pretrained(
    name_or_path: str | Path, kind: str = "molecules"
) -> tuple[AnyModelConfig, torch.nn.Module, DataStats, dict]:
    """Load a model folder of the given kind: (config, denoiser in eval mode, stats, training info)."""
    folder = resolve_model_dir(name_or_path)
    meta = json.loads((folder / "config.json").read_text())
    found = meta.get("kind", "molecules")
    if found != kind:
        raise ValueError(f"model {str(name_or_path)!r} is a {found} model, not a {kind} model")
    config = from_dict(MODEL_KINDS[kind][0], meta["model"])
    net = build_denoiser(config)
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    net.eval()
    stats = DataStats.from_json(json.loads((folder / "stats.json").read_text()))
    return config, net, stats, meta.get("training", {})


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
