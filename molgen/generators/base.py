"""The sampling loop both generators share: batches of requests -> prior -> denoiser (with
guidance and rigid inpainting, optionally self-conditioned) -> sampler -> coordinates and types.

A domain generator turns its requests (molecule sizes and property targets, backbone design
plans) into :class:`BatchInputs` and the sampled coordinates into its output objects; all the
rest happens here, the same way for both.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from molgen.core.denoiser import Conditioning
from molgen.core.graph import batch_vector, full_pairs
from molgen.core.state import State
from molgen.diffusion.guidance import guided_x0
from molgen.diffusion.inpainting import RigidParts, impose_rigid
from molgen.diffusion.samplers import SAMPLERS, check_resample, check_time_power, sample
from molgen.diffusion.sde import VPSDE
from molgen.models.layers import compile_layers
from molgen.models.pretrained import (
    AnyModelConfig,
    DataStats,
    load_pretrained,
    load_sampling_defaults,
    save_pretrained,
)
from molgen.runtime import (
    AutocastNet,
    batch_generator,
    check_precision,
    check_seed,
    make_generator,
    molgen_version,
    resolve_device,
)

logger = logging.getLogger("molgen")

MAX_REDRAWS = 3


@dataclass(frozen=True)
class SamplingOptions:
    """How to sample, checked on construction.

    Attributes:
        steps: denoiser evaluations per sample (twice the network batch with guidance).
        sampler: one of :data:`molgen.diffusion.samplers.SAMPLERS`.
        batch_size: samples per batch.
        seed: makes the output reproducible (same seed and batch_size, same samples); None
            draws fresh entropy.
        guidance: classifier-free guidance weight (1: plain conditional sampling).
        resample: RePaint resamplings per step (``ancestral`` only).
        time_power: the sampler's time grid ``t_i = (1 - i / steps) ** time_power`` (1: uniform).
        progress: show a progress bar on stderr.
    """

    steps: int
    sampler: str
    batch_size: int
    _: KW_ONLY
    seed: int | None = None
    guidance: float = 1.0
    resample: int = 1
    time_power: float = 1.0
    progress: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.seed is not None:
            check_seed(self.seed)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose from {list(SAMPLERS)}")
        if not math.isfinite(self.guidance) or self.guidance < 0:
            raise ValueError(f"guidance must be a finite number >= 0, got {self.guidance}")
        check_resample(self.sampler, self.resample)
        check_time_power(self.time_power)

    def metadata(self, index: int, model: str) -> dict:
        """What every sample records, in this order: index, seed, model, steps, sampler, time
        power, and the molgen version that made it."""
        return {
            "index": index,
            "seed": self.seed,
            "model": model,
            "steps": self.steps,
            "sampler": self.sampler,
            "time_power": self.time_power,
            "molgen_version": molgen_version(),
        }


@dataclass
class BatchInputs:
    """What the sampling loop needs to know about one batch of requests.

    Attributes:
        sizes: ``[G]`` nodes per graph.
        num_features: type features per node (0 for backbones).
        cond: the batch's conditioning, or None.
        rigid: parts given up to a rigid motion (node indices within this batch).
        num_pair_states: states per node pair (bond orders) the model generates; 0: none.
    """

    sizes: np.ndarray
    num_features: int
    cond: Conditioning | None = None
    rigid: list[RigidParts] = field(default_factory=list)
    num_pair_states: int = 0


@dataclass
class Sampled:
    """One sample: ``pos`` ``[n, 3]`` in Angstrom, ``types`` ``[n]`` type indices and, from a
    model with pair states, ``pairs`` ``[m, 3]`` ``(i, j, state)`` of every pair whose state is
    not 0 (bonds and their orders), ``i < j``."""

    pos: np.ndarray
    types: np.ndarray
    pairs: np.ndarray | None = None


class PretrainedGenerator:
    """What every generator shares: a model folder's config, denoiser and statistics on a
    device, its noise process, loading/saving, and the sampling loop. Subclasses set ``KIND``
    and ``DEFAULT_MODEL``."""

    KIND = ""
    DEFAULT_MODEL = ""

    def __init__(
        self,
        config: AnyModelConfig,
        net: torch.nn.Module,
        stats: DataStats,
        name: str = "model",
        info: dict | None = None,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        sampling: dict | None = None,
        compile: bool = False,
    ) -> None:
        """``precision``: ``"fp32"`` or ``"bf16"`` (the denoiser runs under bfloat16 autocast;
        the sampler's arithmetic stays float32). ``sampling``: the model's default sampler
        settings (:func:`molgen.models.pretrained.load_sampling_defaults`). ``compile``: the
        denoiser's layers run under ``torch.compile`` (:func:`molgen.models.layers.compile_layers`:
        faster once the first batch has compiled them)."""
        self.config, self.stats, self.name, self.info = config, stats, name, info or {}
        self.sampling = sampling or {}
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        if compile:
            compile_layers(self.net)
        self.precision = check_precision(precision)
        self.runner = AutocastNet(self.net, self.device) if precision == "bf16" else self.net
        self.sde = VPSDE(config.sde.schedule)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        compile: bool = False,
    ):
        """Load a bundled model by name (default ``DEFAULT_MODEL``) or a ``save_pretrained`` folder
        (``device``, ``precision``, ``compile``: as the constructor's)."""
        name_or_path = name_or_path or cls.DEFAULT_MODEL
        config, net, stats, info = load_pretrained(name_or_path, kind=cls.KIND)
        sampling = load_sampling_defaults(name_or_path)
        options = {"device": device, "precision": precision, "sampling": sampling, "compile": compile}
        return cls(config, net, stats, str(name_or_path), info, **options)

    def save_pretrained(self, out_dir: str | Path) -> Path:
        return save_pretrained(out_dir, self.config, self.net, self.stats, self.info, self.sampling)

    @property
    def self_conditioning(self) -> bool:
        """Whether the denoiser reads its previous estimate (``config.denoiser.self_condition``)."""
        return self.config.denoiser.self_condition

    # ------------------------------------------------------------ the loop
    def iter_samples(
        self,
        requests: Sequence,
        batch_inputs: Callable[[Sequence], BatchInputs],
        options: SamplingOptions,
        what: str,
        first_batch: int = 0,
    ) -> Iterator[tuple[int, Sequence, list[Sampled]]]:
        """Sample ``requests`` batch by batch from batch ``first_batch`` on: yields ``(index of the
        batch's first request, its requests, one Sampled per request)``. ``batch_inputs``
        describes a batch of requests; batch ``b`` draws its noise from
        ``batch_generator(options.seed, b)`` alone (so a resumed run repeats the rest exactly)."""
        if options.seed is None:
            raise ValueError("iter_samples needs a seed (molgen.runtime.resolve_seed)")
        start = first_batch * options.batch_size
        bar = tqdm(
            total=len(requests),
            initial=min(start, len(requests)),
            disable=not options.progress,
            desc=what,
            unit="sample",
        )
        for done in range(start, len(requests), options.batch_size):
            chunk = requests[done : done + options.batch_size]
            gen = batch_generator(options.seed, done // options.batch_size)
            samples = sample_finite(
                lambda part, gen=gen: self.sample_batch(batch_inputs(part), options, gen), chunk, done, what
            )
            bar.update(len(chunk))
            yield done, chunk, samples
        bar.close()

    @torch.no_grad()
    def sample_batch(
        self, inputs: BatchInputs, options: SamplingOptions, gen: torch.Generator
    ) -> list[Sampled]:
        """One batch from the prior to clean samples (coordinates in Angstrom)."""
        counts = torch.as_tensor(inputs.sizes, dtype=torch.long)
        batch = batch_vector(counts)
        pair_index = full_pairs(counts) if inputs.num_pair_states else None
        pair = None if pair_index is None else torch.zeros(pair_index.shape[1], inputs.num_pair_states)
        shape = State(
            torch.zeros(len(batch), 3),
            torch.zeros(len(batch), inputs.num_features),
            batch,
            len(counts),
            pair,
            pair_index,
        )
        z = self.sde.prior(shape, gen).to(self.device)
        cond = None if inputs.cond is None else inputs.cond.to(self.device, torch.get_default_dtype())
        rigid = [p.to(self.device) for p in inputs.rigid]
        type_scale, pair_scale = self.config.sde.type_scale, self.config.sde.pair_scale
        previous: State | None = None  # the last estimate, for self-conditioning

        def denoise(state: State, t: float) -> State:
            nonlocal previous
            tt = torch.full((state.num_graphs,), t, device=self.device)
            x0 = guided_x0(
                self.runner, self.sde, state, tt, type_scale, cond, options.guidance, previous, pair_scale
            )
            x0 = impose_rigid(x0, rigid)
            if self.self_conditioning:
                previous = x0
            return x0

        noise_gen = device_generator(gen, self.device)
        x0 = sample(
            denoise,
            self.sde,
            z,
            options.steps,
            options.sampler,
            generator=noise_gen,
            resample=options.resample,
            time_power=options.time_power,
        )
        pos = (x0.pos.double() * self.stats.coord_scale).cpu().numpy()
        types = (
            x0.feat.argmax(-1).cpu().numpy() if inputs.num_features else np.zeros(len(pos), dtype=np.int64)
        )
        splits = np.cumsum(inputs.sizes)[:-1]
        samples = [Sampled(p, ty) for p, ty in zip(np.split(pos, splits), np.split(types, splits))]
        if pair is not None:
            for sampled, pairs in zip(samples, sampled_pairs(x0, inputs.sizes)):
                sampled.pairs = pairs
        return samples


def sampled_pairs(x0: State, sizes: np.ndarray) -> list[np.ndarray]:
    """Per graph, ``[m, 3]`` ``(i, j, state)`` (local node numbers) of the pairs of ``x0`` whose
    most likely state is not 0."""
    states = x0.pair.argmax(-1).cpu().numpy()
    index = x0.pair_index.cpu().numpy()
    graph = x0.batch.cpu().numpy()[index[0]]
    first = np.cumsum(sizes) - sizes
    keep = states > 0
    rows = np.stack([index[0] - first[graph], index[1] - first[graph], states], 1)[keep]
    return np.split(rows, np.cumsum(np.bincount(graph[keep], minlength=len(sizes)))[:-1])


def sample_finite(
    sample_batch: Callable[[Sequence], list[Sampled]], requests: Sequence, first_index: int, what: str
) -> list[Sampled]:
    """Run ``sample_batch(requests)`` (one sample per request) and redraw every sample whose
    coordinates are not finite (up to MAX_REDRAWS times), logging which were redrawn."""
    samples = sample_batch(requests)
    for _ in range(MAX_REDRAWS):
        bad = [i for i, s in enumerate(samples) if not np.isfinite(s.pos).all()]
        if not bad:
            return samples
        logger.warning(
            "%s %s had non-finite coordinates; redrawing them", what, [first_index + i for i in bad]
        )
        for i, s in zip(bad, sample_batch([requests[i] for i in bad])):
            samples[i] = s
    raise FloatingPointError(f"sampling kept producing non-finite coordinates after {MAX_REDRAWS} redraws")


def device_generator(gen: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` for the sampler's noise, seeded from the CPU generator ``gen``."""
    return make_generator(int(torch.randint(0, 2**62, (), generator=gen)), device)
