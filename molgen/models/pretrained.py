"""Model folders: ``config.json`` + ``model.safetensors`` + ``stats.json`` (no pickle anywhere).

``stats.json`` holds what the training data taught besides weights: the atom-count histogram
(used to draw molecule sizes) and the coordinate scale (Angstrom per model unit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from molgen.config import BackboneModelConfig, ModelConfig, RegressorConfig, from_stored, to_dict
from molgen.models.backbone_denoiser import BackboneDenoiser
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.models.property_regressor import PropertyRegressor
from molgen.runtime import atomic_path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"

# model kind -> (config class, network factory); config.json's "kind" (default "molecules")
MODEL_KINDS = {
    "molecules": (ModelConfig, MoleculeDenoiser),
    "backbones": (BackboneModelConfig, lambda config: BackboneDenoiser(config.denoiser)),
    "regressor": (RegressorConfig, PropertyRegressor),
}
AnyModelConfig = ModelConfig | BackboneModelConfig | RegressorConfig


def model_kind(config: AnyModelConfig) -> str:
    return next(kind for kind, (cls, _) in MODEL_KINDS.items() if isinstance(config, cls))


def build_denoiser(config: AnyModelConfig) -> torch.nn.Module:
    """A freshly initialised network (denoiser or regressor) for a model config of any kind."""
    return MODEL_KINDS[model_kind(config)][1](config)


def _histogram(values: np.ndarray) -> dict[int, int]:
    keys, counts = np.unique(values, return_counts=True)
    return {int(k): int(c) for k, c in zip(keys, counts)}


@dataclass
class PropertyStats:
    """Training distribution of one molecular property.

    Attributes:
        mean, std: for normalising the property to the network's input.
        bin_edges: ``[num_bins + 1]`` quantile edges of the training values (first and last:
            the training minimum and maximum).
        size_hists: per bin, ``{num_atoms: count}`` of the training molecules whose value falls
            in it: sampling draws sizes from ``p(num_atoms | value)`` (as EDM does).
    """

    mean: float
    std: float
    bin_edges: list[float]
    size_hists: list[dict[int, int]]

    @classmethod
    def from_values(cls, values: np.ndarray, num_atoms: np.ndarray, num_bins: int = 20) -> PropertyStats:
        edges = np.quantile(values, np.linspace(0.0, 1.0, num_bins + 1))
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, num_bins - 1)
        hists = [_histogram(num_atoms[bins == b]) for b in range(num_bins)]
        return cls(float(values.mean()), float(values.std()), [float(e) for e in edges], hists)

    def size_hist(self, value: float) -> dict[int, int]:
        """``{num_atoms: count}`` of the value bin holding ``value`` (the end bins beyond the
        range; the nearest non-empty bin when that one is empty, as with tied quantiles)."""
        b = int(np.searchsorted(self.bin_edges, value, side="right")) - 1
        b = min(max(b, 0), len(self.size_hists) - 1)
        filled = [i for i, h in enumerate(self.size_hists) if h]
        return self.size_hists[min(filled, key=lambda i: abs(i - b))]

    def to_json(self) -> dict:
        hists = [{str(k): v for k, v in h.items()} for h in self.size_hists]
        return {"mean": self.mean, "std": self.std, "bin_edges": self.bin_edges, "size_hists": hists}

    @classmethod
    def from_json(cls, data: dict) -> PropertyStats:
        hists = [{int(k): int(v) for k, v in h.items()} for h in data["size_hists"]]
        return cls(float(data["mean"]), float(data["std"]), [float(e) for e in data["bin_edges"]], hists)


@dataclass
class DataStats:
    """Statistics of the training set saved with a model.

    Attributes:
        num_atoms_hist: ``{num_atoms: count}`` over training molecules (residues per chain
            for backbone models).
        coord_scale: Angstrom per model unit (molecules: RMS of centred coordinates per axis).
        properties: per conditioning property, its training distribution.
    """

    num_atoms_hist: dict[int, int]
    coord_scale: float
    properties: dict[str, PropertyStats] = field(default_factory=dict)

    @classmethod
    def from_dataset(
        cls, num_atoms: np.ndarray, centred_pos: np.ndarray, properties: dict[str, np.ndarray] | None = None
    ) -> DataStats:
        """``properties``: name -> ``[num_molecules]`` values of the conditioning properties."""
        return cls(
            num_atoms_hist=_histogram(num_atoms),
            coord_scale=float(np.sqrt(np.mean(centred_pos.astype(np.float64) ** 2))),
            properties={k: PropertyStats.from_values(v, num_atoms) for k, v in (properties or {}).items()},
        )

    def to_json(self) -> dict:
        data = {
            "num_atoms_hist": {str(k): v for k, v in self.num_atoms_hist.items()},
            "coord_scale": self.coord_scale,
        }
        if self.properties:
            data["properties"] = {k: v.to_json() for k, v in self.properties.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> DataStats:
        return cls(
            {int(k): int(v) for k, v in data["num_atoms_hist"].items()},
            float(data["coord_scale"]),
            {k: PropertyStats.from_json(v) for k, v in data.get("properties", {}).items()},
        )


def save_pretrained(
    out_dir: str | Path,
    config: AnyModelConfig,
    net: torch.nn.Module,
    stats: DataStats,
    info: dict | None = None,
    sampling: dict | None = None,
) -> Path:
    """Write a model folder atomically file by file; ``info`` goes into config.json's ``training``,
    ``sampling`` (the model's default sampler settings, :data:`SAMPLING_KEYS`) into its ``sampling``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    _write_json(out / "stats.json", stats.to_json())
    meta = {"kind": model_kind(config), "model": to_dict(config), "training": info or {}}
    if sampling:
        meta["sampling"] = _checked_sampling(sampling)
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


def bundled_configs(kind: str) -> dict[str, AnyModelConfig]:
    """The model config of every bundled model of ``kind`` (by name; weights are not read)."""
    out = {}
    for folder in sorted(PRETRAINED_DIR.iterdir()):
        if (folder / "config.json").is_file():
            meta = json.loads((folder / "config.json").read_text())
            if meta.get("kind", "molecules") == kind:
                out[folder.name] = from_stored(MODEL_KINDS[kind][0], meta["model"])
    return out


# sampler settings a model folder may set as its defaults (steps, sampler and time grid; the time
# grid around a fragment the model was not trained to read)
SAMPLING_KEYS = ("steps", "sampler", "time_power", "fragment_time_power")


def _checked_sampling(sampling: dict) -> dict:
    unknown = sorted(set(sampling) - set(SAMPLING_KEYS))
    if unknown:
        raise ValueError(f"unknown sampling defaults {unknown}; a model folder may set {list(SAMPLING_KEYS)}")
    return dict(sampling)


def load_sampling_defaults(name_or_path: str | Path) -> dict:
    """A model folder's default sampler settings (config.json's ``sampling``; {} when it sets none),
    e.g. ``{"time_power": 3.0}``."""
    meta = json.loads((resolve_model_dir(name_or_path) / "config.json").read_text())
    return _checked_sampling(meta.get("sampling", {}))


def load_pretrained(
    name_or_path: str | Path, kind: str = "molecules"
) -> tuple[AnyModelConfig, torch.nn.Module, DataStats, dict]:
    """Load a model folder of the given kind: (config, denoiser in eval mode, stats, training info)."""
    folder = resolve_model_dir(name_or_path)
    meta = json.loads((folder / "config.json").read_text())
    found = meta.get("kind", "molecules")
    if found != kind:
        raise ValueError(f"model {str(name_or_path)!r} is a {found} model, not a {kind} model")
    config = from_stored(MODEL_KINDS[kind][0], meta["model"])
    net = build_denoiser(config)
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    net.eval()
    stats = DataStats.from_json(json.loads((folder / "stats.json").read_text()))
    return config, net, stats, meta.get("training", {})


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
