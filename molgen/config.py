"""Frozen configuration dataclasses and their JSON/YAML round trip (unknown keys are errors).

:func:`load_config` reads a run's YAML (which may ``extends:`` another); :func:`from_stored` reads
what a model folder or checkpoint stored, earlier versions' legacy keys included.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class DenoiserConfig:
    """Size of an EGNN trunk: the molecule denoiser's (``ModelConfig.denoiser``) and a property
    regressor's (``RegressorConfig.network``). Input and output widths are not sizes: they follow
    from the model config (e.g. :attr:`ModelConfig.num_types`)."""

    hidden: int = 192
    edge_hidden: int = 64
    num_layers: int = 8
    num_rbf: int = 16
    rbf_max: float = 5.0  # in units of the coordinate scale (stats.coord_scale)
    self_condition: bool = False  # molecule denoisers: also read the previous x0 estimate


@dataclass(frozen=True)
class SDEConfig:
    """Noise process: schedule name and the scale of one-hot type and pair (bond) features.

    A feature scale ``s`` multiplies that component's signal-to-noise ratio by ``s^2`` at every
    time (its log-SNR schedule shifted by ``2 log s``): a per-component noise schedule."""

    schedule: str = "cosine"
    type_scale: float = 0.25
    pair_scale: float = 0.25


#: The pair states of a model with bonds: Kekulé bond orders, index = order. Aromaticity is left
#: to RDKit's perception (a property of the molecule, not a state of one bond), so every valence
#: check on generated bonds is local and exact.
BOND_STATES = ("none", "single", "double", "triple")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a molecule model (stored as config.json)."""

    # element symbols, one per atom type; empty: the elements of the training data (the trainer
    # fills them in, in order of atomic number, and stores them with the model)
    vocab: tuple[str, ...] = ()
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    sde: SDEConfig = field(default_factory=SDEConfig)
    # "explicit": hydrogens are atoms of the model; "implicit": the model generates heavy atoms
    # only (trained on skeletons) and RDKit adds hydrogens to the sampled molecules.
    hydrogens: str = "explicit"
    # Molecular properties the model can be conditioned on (names of
    # molgen.datasets.qm9.PROPERTY_UNITS).
    properties: tuple[str, ...] = ()
    # generate bond orders (BOND_STATES) for every atom pair jointly with atoms; False: bonds
    # are inferred from distances after sampling
    bonds: bool = False
    # the denoiser reads a fixed fragment (its atoms' types, bonds and distances) as a condition,
    # trained on random fragments of the training molecules (TrainConfig.fragment_probability);
    # needs bonds (the fragment's geometry enters on the pair states)
    fragments: bool = False

    def __post_init__(self) -> None:
        if self.hydrogens not in ("explicit", "implicit"):
            raise ValueError(
                f"ModelConfig.hydrogens must be 'explicit' or 'implicit', got {self.hydrogens!r}"
            )
        if self.hydrogens == "implicit" and "H" in self.vocab:
            raise ValueError("a model with implicit hydrogens must not have H in its vocabulary")
        if len(set(self.properties)) != len(self.properties):
            raise ValueError(f"properties must not repeat: {list(self.properties)}")
        if self.fragments and not self.bonds:
            raise ValueError("ModelConfig.fragments needs bonds: true (fragments enter on the pair states)")

    @property
    def num_types(self) -> int:
        """Atom types the denoiser reads and predicts: the vocabulary size."""
        return len(self.vocab)

    @property
    def num_pair_states(self) -> int:
        """States per atom pair the denoiser reads and predicts (0 without bonds)."""
        return len(BOND_STATES) if self.bonds else 0

    @property
    def num_conditions(self) -> int:
        """Condition inputs of the denoiser: a normalised value and a given/not-given flag per property."""
        return 2 * len(self.properties)


@dataclass(frozen=True)
class RegressorConfig:
    """A property regressor: predicts molecular properties from atoms and coordinates (used to
    score property-conditioned generators, as in EDM). Stored as config.json like a model.

    ``network`` defaults to a smaller trunk than a denoiser's (128 wide, 6 layers); in Python,
    change it with ``dataclasses.replace(RegressorConfig().network, ...)`` to keep those sizes
    (a bare ``DenoiserConfig(...)`` starts from the denoiser's defaults; a YAML ``network:``
    block is laid over the regressor's)."""

    properties: tuple[str, ...] = ("alpha", "gap", "homo", "lumo", "mu", "cv")
    vocab: tuple[str, ...] = ("C", "N", "O", "F")
    hydrogens: str = "implicit"  # "implicit": reads heavy atoms only
    network: DenoiserConfig = field(default_factory=lambda: DenoiserConfig(hidden=128, num_layers=6))

    def __post_init__(self) -> None:
        if not self.properties:
            raise ValueError("a regressor needs at least one property")
        if self.hydrogens not in ("explicit", "implicit"):
            raise ValueError(
                f"RegressorConfig.hydrogens must be 'explicit' or 'implicit', got {self.hydrogens!r}"
            )


def _check_positive(config: object, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise ValueError(f"{type(config).__name__}.{name} must be > 0, got {getattr(config, name)}")


@dataclass(frozen=True)
class BaseTrainConfig:
    """Optimisation settings shared by every ``molgen train`` kind (a property regressor's
    training uses them as they are; :class:`TrainConfig` and :class:`BackboneTrainConfig` add
    their domain's)."""

    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-12
    warmup_steps: int = 500
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    max_steps: int = 100_000
    max_minutes: float = 0.0  # 0 = no time limit
    # the learning rate falls linearly to zero over the last cooldown_steps steps before max_steps
    # (0 = constant after warm-up); set both on --resume to anneal a long run where it stands
    cooldown_steps: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    min_snr_gamma: float = 5.0
    seed: int = 0
    threads: int = 0  # 0 = leave torch's default
    precision: str = "fp32"  # "bf16": forward pass and loss under bfloat16 autocast
    # compile the denoiser's message-passing layers (torch.compile): faster steps after a slow first
    # few (benchmarks/training_compile.py); on a CPU it needs a C++ compiler
    compile: bool = False

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"{name}.precision must be 'fp32' or 'bf16', got {self.precision!r}")
        _check_positive(
            self, ("batch_size", "lr", "max_steps", "checkpoint_every", "log_every", "min_snr_gamma")
        )
        for key in ("weight_decay", "warmup_steps", "max_minutes", "threads"):
            if getattr(self, key) < 0:
                raise ValueError(f"{name}.{key} must be >= 0, got {getattr(self, key)}")
        if self.grad_clip <= 0:
            raise ValueError(f"{name}.grad_clip must be > 0, got {self.grad_clip}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"{name}.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.cooldown_steps <= self.max_steps:
            bounds = f"[0, max_steps={self.max_steps}]"
            raise ValueError(f"{name}.cooldown_steps must be in {bounds}, got {self.cooldown_steps}")


@dataclass(frozen=True)
class TrainConfig(BaseTrainConfig):
    """Optimisation settings of ``molgen train molecules``."""

    type_loss_weight: float = 1.0
    bond_loss_weight: float = 1.0  # models with bonds: weight of the cross-entropy on bond orders
    # time weights: "min_snr" (coordinates x min(1 + SNR, min_snr_gamma), categorical terms 1) or
    # "clamped_snr" (every term x clamp(SNR, 0.05, 1.5), EQGAT-diff's w(t); Le et al. 2024)
    loss_weighting: str = "min_snr"
    # std (coordinate units) of Gaussian noise added to the noisy coordinates the network reads,
    # not to its target: it learns to repair distorted geometry (FlowMol3; Dunn & Koes 2025)
    distortion: float = 0.0
    # property-conditioned models: share of molecules trained without any property (what
    # classifier-free guidance contrasts with); half of the rest see one property, half a random subset
    condition_dropout: float = 0.1
    # fragment-conditioned models (ModelConfig.fragments): share of molecules trained with a fragment
    # given (half of them one ring system, the rest a connected piece of random size)
    fragment_probability: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("condition_dropout", "fragment_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TrainConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.loss_weighting not in ("min_snr", "clamped_snr"):
            raise ValueError(
                f"TrainConfig.loss_weighting must be 'min_snr' or 'clamped_snr', got {self.loss_weighting!r}"
            )
        if self.distortion < 0:
            raise ValueError(f"TrainConfig.distortion must be >= 0, got {self.distortion}")


@dataclass(frozen=True)
class BackboneDenoiserConfig:
    """Size and graph of the residue-level backbone denoiser."""

    hidden: int = 128
    edge_hidden: int = 64
    num_layers: int = 6
    num_neighbors: int = 24  # nearest residues by CA distance
    sequence_window: int = 2  # residues i +- 1..window are always neighbours
    max_relpos: int = 32  # sequence separations are clipped to +- this
    num_rbf: int = 16
    rbf_max: float = 2.0  # in units of the coordinate scale (10 Angstrom)
    self_condition: bool = False  # also read the previous x0 estimate (Chen et al. 2022)
    conditioning: bool = False  # read BackboneConditions (secondary structure, motif)
    # pair-aware options (issue 21): the edge states are updated in every layer; neighbours also
    # from the self-conditioning estimate (its k nearest residues) and long-range ones (residues
    # at evenly spaced distance ranks beyond the nearest), so strand partners can find each other
    edge_updates: bool = False
    estimate_neighbors: int = 0
    long_range_neighbors: int = 0
    pairing: bool = False  # read which strand elements pair (BackboneConditions.pair_index/pair_kind)
    registers: bool = False  # pairing models: also read which residue pairs bridge (kinds + BRIDGED)
    # a dense pair track (molgen.models.pair_track) of this many channels per residue pair, refined
    # by pair_blocks blocks of triangle updates, read by every graph edge; 0: none
    pair_channels: int = 0
    pair_blocks: int = 2

    def __post_init__(self) -> None:
        _check_positive(self, ("hidden", "edge_hidden", "num_layers", "num_neighbors", "max_relpos"))
        if self.pairing and not self.conditioning:
            raise ValueError("BackboneDenoiserConfig.pairing is a condition: it needs conditioning: true")
        if self.registers and not self.pairing:
            raise ValueError("BackboneDenoiserConfig.registers refine a pairing: they need pairing: true")
        if min(self.estimate_neighbors, self.long_range_neighbors, self.pair_channels, self.pair_blocks) < 0:
            raise ValueError("BackboneDenoiserConfig neighbour counts and pair sizes must be >= 0")


@dataclass(frozen=True)
class BackboneModelConfig:
    """Everything needed to rebuild a backbone model (stored as config.json)."""

    denoiser: BackboneDenoiserConfig = field(default_factory=BackboneDenoiserConfig)
    sde: SDEConfig = field(default_factory=SDEConfig)
    min_length: int = 20
    max_length: int = 256  # longest chain the model may be asked for

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(f"need 1 <= min_length <= max_length, got {self.min_length}, {self.max_length}")


@dataclass(frozen=True)
class BackboneTrainConfig(BaseTrainConfig):
    """Optimisation settings of ``molgen train backbones`` (``batch_size`` counts chains)."""

    batch_size: int = 8
    crop_length: int = 128  # longer chains are cropped to a random window of this length
    geometry_loss_weight: float = 1.0  # local inter-atomic distance loss at low noise
    geometry_span: int = 4  # residues per window of that loss (2: bonds and angles only)
    low_noise_fraction: float = 0.0  # share of each batch with noise times drawn from [0, 0.25)
    # non-local supervision: squared error of the N, CA, C distances of residue pairs whose real
    # CA-CA distance is below pair_loss_cutoff (Angstrom), at any sequence separation, x alpha^2
    pair_loss_weight: float = 0.0
    pair_loss_cutoff: float = 10.0
    # models with a pair track: cross-entropy of its distogram (every residue pair's clean CA
    # distance bin), at every noise level
    distogram_loss_weight: float = 0.0
    # backbone hydrogen bonds: squared error of DSSP's N-H...O=C energies over the same close
    # pairs, on the pairs that bond in the real chain or the prediction, x alpha^2
    hbond_loss_weight: float = 0.0
    hbond_max_time: float = 1.0  # ... on the chains with diffusion time below this (1: all)
    ss_probability: float = 0.5  # conditioning models: chance a chain's secondary structure is given
    pairing_probability: float = 0.0  # pairing models: chance a chain's strand pairing is given
    # register models: chance that a chain whose pairing is given also gets its bridged residue pairs
    register_probability: float = 0.0
    motif_probability: float = 0.5  # conditioning models: chance a chain gets a random motif
    # chains are drawn with probability proportional to 1 + strand_oversampling x their DSSP strand
    # fraction (0: uniform epochs)
    strand_oversampling: float = 0.0
    # held-out validation: this many strand-rich chains (one per sequence cluster; their clusters
    # leave the training set) are denoised in one step from 1.6 A of noise at every checkpoint;
    # validation.csv logs how much strand and helix the estimates keep, best/ holds the best model
    validation_chains: int = 0
    # pairing models: also sample one design from the topology of each of the first this many
    # validation chains at every checkpoint (strand made, sheets, pairings formed; 100 steps each)
    validation_designs: int = 0
    # share of the chains longer than crop_length cut to the crop_length residues nearest (CA) to
    # a random residue (pieces in chain order, gaps between them) instead of a contiguous window,
    # so strand partners far apart in sequence stay together (needs conditioning: the residue
    # numbering travels with the conditions)
    spatial_crop_fraction: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.geometry_span < 2:
            raise ValueError(f"BackboneTrainConfig.geometry_span must be >= 2, got {self.geometry_span}")
        if not 0 <= self.validation_designs <= self.validation_chains:
            raise ValueError(
                "BackboneTrainConfig: need 0 <= validation_designs <= validation_chains, got "
                f"{self.validation_designs} and {self.validation_chains}"
            )
        if self.strand_oversampling < 0:
            raise ValueError(
                f"BackboneTrainConfig.strand_oversampling must be >= 0: {self.strand_oversampling}"
            )
        if self.pair_loss_weight < 0 or self.pair_loss_cutoff <= 0:
            raise ValueError("BackboneTrainConfig: pair_loss_weight must be >= 0 and pair_loss_cutoff > 0")
        if self.distogram_loss_weight < 0 or self.hbond_loss_weight < 0:
            raise ValueError("BackboneTrainConfig: distogram_loss_weight and hbond_loss_weight must be >= 0")
        if not 0 < self.hbond_max_time <= 1:
            raise ValueError(f"BackboneTrainConfig.hbond_max_time must be in (0, 1]: {self.hbond_max_time}")
        for name in (
            "low_noise_fraction",
            "ss_probability",
            "pairing_probability",
            "register_probability",
            "motif_probability",
            "spatial_crop_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"BackboneTrainConfig.{name} must be in [0, 1], got {getattr(self, name)}")


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a dict; unknown keys raise. A nested dataclass is built on top
    of its field's default: keys left out keep the values of that default (so a partial
    ``RegressorConfig.network`` keeps the regressor's sizes, not the denoiser's)."""
    return _build(cls, data, None)


def _build(cls: type[T], data: dict[str, Any], base: T | None) -> T:
    """:func:`from_dict` of ``data`` over ``base`` (an instance of ``cls``; None: the class defaults)."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}; allowed: {sorted(fields)}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            inner = getattr(base, key) if base is not None else _field_default(fields[key])
            kwargs[key] = _build(hint, value, inner if isinstance(inner, hint) else None)
        elif typing.get_origin(hint) is tuple:  # tuple[X, ...]: a YAML list of X
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{cls.__name__}.{key}: expected a list, got {value!r}")
            element = typing.get_args(hint)[0]
            kwargs[key] = tuple(_scalar(f"{cls.__name__}.{key}", element, v) for v in value)
        else:
            kwargs[key] = _scalar(f"{cls.__name__}.{key}", hint, value)
    try:
        return cls(**kwargs) if base is None else dataclasses.replace(base, **kwargs)
    except TypeError as err:
        raise ValueError(f"{cls.__name__}: {err}") from None


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


#: Keys of ``ModelConfig.denoiser`` that earlier versions stored; now derived properties of ``ModelConfig``.
_DERIVED_DENOISER_KEYS = ("num_types", "num_conditions")
#: Molecule-only settings that earlier versions stored in every train config (backbone and
#: regressor runs included, where they had no effect).
_MOLECULE_TRAIN_KEYS = ("type_loss_weight", "condition_dropout")


def from_stored(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a config that a model folder (``config.json``) or a training checkpoint
    stored, maybe with an earlier version: :func:`from_dict`, except that the keys earlier
    versions wrote are accepted when they say nothing the current config does not imply.

    - ``ModelConfig``: ``denoiser.num_types`` and ``denoiser.num_conditions`` (now
      :attr:`ModelConfig.num_types` and :attr:`ModelConfig.num_conditions`) are dropped when they
      equal the derived value.
    - Train configs without the molecule-only ``type_loss_weight`` and ``condition_dropout``
      (:class:`BackboneTrainConfig`, a regressor's :class:`BaseTrainConfig`): those keys are
      dropped when they hold :class:`TrainConfig`'s default.

    Raises:
        ValueError: for a legacy key with any other value, and for everything
            :func:`from_dict` rejects.
    """
    if not isinstance(data, dict):
        return from_dict(cls, data)
    if issubclass(cls, ModelConfig):
        return _stored_model_config(cls, data)
    if issubclass(cls, BaseTrainConfig):
        own = {f.name for f in dataclasses.fields(cls)}
        legacy = [key for key in _MOLECULE_TRAIN_KEYS if key in data and key not in own]
        for key in legacy:
            default = getattr(TrainConfig(), key)
            if data[key] != default:
                raise ValueError(
                    f"{cls.__name__}: the stored {key} = {data[key]!r} is a molecule-only setting this "
                    f"config does not have; a config stored by an earlier version may carry it only "
                    f"with its default {default!r}"
                )
        data = {key: value for key, value in data.items() if key not in legacy}
    return from_dict(cls, data)


def _stored_model_config(cls: type[T], data: dict[str, Any]) -> T:
    """:func:`from_stored` of a molecule model config: the legacy denoiser keys checked, then dropped."""
    denoiser, stored = data.get("denoiser"), {}
    if isinstance(denoiser, dict):
        stored = {key: denoiser[key] for key in _DERIVED_DENOISER_KEYS if key in denoiser}
        data = {**data, "denoiser": {k: v for k, v in denoiser.items() if k not in stored}}
    config = from_dict(cls, data)
    for key, value in stored.items():
        derived = getattr(config, key)
        if value != derived:
            raise ValueError(
                f"{cls.__name__}: the stored denoiser.{key} = {value!r} contradicts the model's {key} = "
                f"{derived} (derived from vocab {list(config.vocab)}, properties {list(config.properties)})"
            )
    return config


def _scalar(where: str, hint: Any, value: Any) -> Any:
    """``value`` as a ``hint`` (bool, int, float or str; other hints pass it through). Numbers
    may be strings: YAML reads ``1e-3`` (no dot) as one."""
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where}: expected a string, got {value!r}")
    if hint not in (bool, int, float):
        return value
    if isinstance(value, bool) or hint is bool:
        if isinstance(value, bool) and hint is bool:
            return value
    elif isinstance(value, int):
        return value if hint is int else float(value)
    else:
        if hint is int and isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isfinite(number) and (hint is float or number.is_integer()):
            return number if hint is float else int(number)
    expected = "a finite number" if hint is float else hint.__name__
    raise ValueError(f"{where}: expected {expected}, got {value!r}")


def to_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a YAML or JSON file (safe loader) into ``cls``; unknown keys are errors.

    A top-level ``extends: other.yaml`` (a path relative to the file that says it) reads that
    file first and lays this one over it: mappings merge key by key, recursively, and any other
    value of this file (a number, a string, a list) replaces the other's. The extended file may
    extend another in turn; a cycle is an error.

    Raises:
        ValueError: for a file that cannot be read or parsed (the extending file named), an
            ``extends`` cycle, and everything :func:`from_dict` rejects.
    """
    return from_dict(cls, _read_merged(Path(path), ()))


def _read_merged(path: Path, chain: tuple[Path, ...]) -> Any:
    """The content of ``path`` with what it extends merged in; ``chain``: the (resolved) files
    that extend ``path``, outermost first."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ValueError(f"config {path}: `extends` cycle: {cycle}")
    try:
        text = path.read_text()
    except OSError as err:
        by = f" (extended by {chain[-1]})" if chain else ""
        raise ValueError(f"cannot read config {path}{by}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"config {path} is not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict) or "extends" not in data:
        return data  # from_dict rejects what is not a mapping
    parent = data.pop("extends")
    if not isinstance(parent, str) or not parent:
        raise ValueError(f"config {path}: `extends` must be a file name, got {parent!r}")
    base = _read_merged(path.parent / parent, (*chain, resolved))
    if not isinstance(base, dict):
        raise ValueError(f"config {path.parent / parent} (extended by {path}): expected a mapping")
    return _merge(base, data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merge recursively; any other value of ``override`` wins."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _merge(merged[key], value)
        merged[key] = value
    return merged


@dataclass(frozen=True)
class RunConfig:
    """A training run's YAML: ``model:`` and ``train:`` sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class RegressorRunConfig:
    """A property regressor's training YAML: ``model:`` and ``train:`` sections."""

    model: RegressorConfig = field(default_factory=RegressorConfig)
    train: BaseTrainConfig = field(default_factory=BaseTrainConfig)


@dataclass(frozen=True)
class BackboneRunConfig:
    """A backbone training run's YAML: ``model:`` and ``train:`` sections."""

    model: BackboneModelConfig = field(default_factory=BackboneModelConfig)
    train: BackboneTrainConfig = field(default_factory=BackboneTrainConfig)
