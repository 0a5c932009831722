"""The training loop shared by every model kind (molecules, backbones).

AdamW with warm-up, gradient clipping, EMA weights, atomic checkpoints every N steps and at
exit, exact resume, and torchrun/DDP awareness (rank-0 I/O). Randomness is a pure function of
``(seed, step)``: the data order comes from a per-epoch permutation and the noise of step k from
a generator seeded with ``(seed, k)`` over the *global* batch, of which each rank takes its
slice. Resuming, or splitting a global batch over ranks, therefore reproduces the same run.

A subclass says what an example is: it sets ``KIND``, the config classes and the loss columns,
and implements :meth:`make_stats`, :meth:`encode` and :meth:`loss`.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import json
import logging
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch

from molgen.config import from_stored, to_dict
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE
from molgen.models.layers import compile_layers
from molgen.models.pretrained import (
    MODEL_KINDS,
    AnyModelConfig,
    DataStats,
    build_denoiser,
    load_pretrained,
    load_sampling_defaults,
    save_pretrained,
)
from molgen.runtime import atomic_path, autocast, is_main_process, rank, world_size
from molgen.training.losses import TrainingBatch

logger = logging.getLogger("molgen")

# the generator of step k is seeded with seed * STEP_SEED_STRIDE + k: distinct for every
# (seed, step) pair of runs shorter than a million steps
STEP_SEED_STRIDE = 1_000_003


class DiffusionTrainer:
    """Trains a denoiser into ``out_dir``: ``metrics.csv``, ``checkpoints/last.pt`` and, at the
    end, ``model/`` (a :func:`save_pretrained` folder with the EMA weights)."""

    KIND = ""
    TRAIN_CONFIG: type = object
    LOSS_FIELDS: tuple[str, ...] = ()
    RATE_FIELD = "examples_per_s"

    def __init__(
        self,
        data,
        out_dir: str | Path,
        model_config: AnyModelConfig | None = None,
        train_config=None,
        resume: bool = False,
        device: torch.device | str = "cpu",
        init_from: str | Path | None = None,
    ) -> None:
        """
        Args:
            data: the training set (its type is the subclass's business).
            resume: continue from ``out_dir/checkpoints/last.pt`` when it exists (a new run,
                with a warning, when it does not), with its model and, unless ``train_config``
                is given, its training settings (a given ``train_config`` replaces them from
                here on, e.g. a cooldown with another loss weighting; ``model_config`` is not
                used). Without ``resume`` a folder that holds a checkpoint is refused.
            init_from: start from a model folder's weights, config and statistics (used when
                the checkpoints are gone but the bundled weights remain). Steps, warm-up and
                ``max_steps`` count from 0 for this run; the folder's steps and wall time are
                added to the exported totals. Ignored when a checkpoint is resumed. With a
                ``model_config`` that adds modules to the folder's model (e.g. conditioning),
                those start from their own initialisation and everything else from the folder.
        """
        self.out = Path(out_dir)
        self.device = torch.device(device)
        self.ckpt_path = self.out / "checkpoints" / "last.pt"
        if not resume and self.ckpt_path.exists():
            raise ValueError(
                f"{self.out} already holds a training run ({self.ckpt_path}): continue it with "
                "--resume, or give another run folder"
            )
        model_cls = MODEL_KINDS[self.KIND][0]
        checkpoint = self._load_checkpoint() if resume else None
        initial = None
        if init_from is not None and checkpoint is None:
            initial = load_pretrained(init_from, kind=self.KIND)
        if initial is not None:
            source, source_net, source_stats, info = initial
            model_config = self.complete_config(data, model_config or source, source)
            initial_state, self.stats = self.adapt_initial(
                source, model_config, source_net.state_dict(), source_stats
            )
            train_config = train_config or self.TRAIN_CONFIG()
        elif checkpoint is not None:
            model_config = from_stored(model_cls, json.loads(checkpoint["model_config"]))
            stored = from_stored(self.TRAIN_CONFIG, json.loads(checkpoint["train_config"]))
            if train_config is not None and train_config != stored:
                changed = {
                    f.name: getattr(train_config, f.name)
                    for f in dataclasses.fields(stored)
                    if getattr(train_config, f.name) != getattr(stored, f.name)
                }
                logger.info("resuming with changed training settings: %s", changed)
            train_config = train_config or stored
            self.stats = DataStats.from_json(json.loads(checkpoint["stats"]))
        else:
            model_config = self.complete_config(data, model_config or model_cls())
            train_config = train_config or self.TRAIN_CONFIG()
            self.stats = self.make_stats(data, model_config)
        self.model_config, self.config = model_config, train_config
        if train_config.threads:
            torch.set_num_threads(train_config.threads)
        if train_config.batch_size % world_size():
            raise ValueError(f"batch_size {train_config.batch_size} must divide by {world_size()} ranks")
        self.encoded = self.encode(data)
        if len(self.encoded) < train_config.batch_size:
            raise ValueError(
                f"{len(self.encoded)} training examples is fewer than one batch ({train_config.batch_size})"
            )
        with torch.random.fork_rng(devices=[]):  # same initial weights on every rank, global RNG untouched
            torch.manual_seed(train_config.seed)
            self.net = build_denoiser(model_config).to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        # fused: one kernel for all parameters (about 3x faster than the per-tensor loop on a CPU)
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay, fused=True
        )
        self.step, self.elapsed = 0, 0.0
        self.prior = dict(NO_PRIOR)  # training behind init_from weights
        if checkpoint is not None:
            self.prior = _prior(checkpoint)
            self.net.load_state_dict(checkpoint["model"])
            self.ema.load_state_dict(checkpoint["ema"])
            self.opt.load_state_dict(checkpoint["optimizer"])
            self.step, self.elapsed = int(checkpoint["step"]), float(checkpoint["elapsed"])
            logger.info("resumed from %s at step %d", self.ckpt_path, self.step)
        elif initial is not None:
            _load_grown(self.net, initial_state, init_from)
            self.ema.load_state_dict(self.net.state_dict())
            self.prior = {
                "steps": int(info.get("steps", 0)),
                "wall_minutes": float(info.get("wall_minutes", 0)),
                "sampling": load_sampling_defaults(init_from),  # the exported model keeps them
            }
            logger.info("initialised from %s (%d earlier steps)", init_from, self.prior["steps"])
        self.model = self.net
        if world_size() > 1:
            # some inputs are optional per step or per rank (a self-conditioning estimate, strand
            # pairings), and so are the parameters that read them
            self.model = torch.nn.parallel.DistributedDataParallel(self.net, find_unused_parameters=True)

    @functools.cached_property
    def sde(self) -> VPSDE:
        """The noise process of the model config (built on first use; a regressor has none)."""
        return VPSDE(self.model_config.sde.schedule)

    # ------------------------------------------------------------ subclass API
    def adapt_initial(
        self, source: AnyModelConfig, target: AnyModelConfig, state: dict, stats: DataStats
    ) -> tuple[dict, DataStats]:
        """Weights and statistics of an ``init_from`` folder (model config ``source``) made to fit
        this run's model config ``target``; by default unchanged."""
        return state, stats

    def complete_config(
        self, data, model_config: AnyModelConfig, source: AnyModelConfig | None = None
    ) -> AnyModelConfig:
        """A new run's model config with what the data (or ``source``, the config of the
        ``init_from`` weights) decides filled in; by default unchanged."""
        return model_config

    def make_stats(self, data, model_config: AnyModelConfig) -> DataStats:
        raise NotImplementedError

    def encode(self, data):
        """Training tensors with ``__len__`` (the number of examples)."""
        raise NotImplementedError

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss to minimise, ``{name: value}`` for ``LOSS_FIELDS``) on this rank's batch of ``step``."""
        raise NotImplementedError

    def validate(self) -> None:
        """Held-out validation at every checkpoint (subclasses that have one)."""

    @property
    def metric_fields(self) -> list[str]:
        return ["step", "epoch", "loss", *self.LOSS_FIELDS, "lr", "grad_norm", self.RATE_FIELD, "minutes"]

    # ------------------------------------------------------------------ data
    def steps_per_epoch(self) -> int:
        return len(self.encoded) // self.config.batch_size

    def global_batch(self, step: int) -> np.ndarray:
        """Example indices of the global batch at ``step`` (epoch-wise permutation)."""
        spe = self.steps_per_epoch()
        epoch, k = divmod(step, spe)
        perm = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.encoded))
        return perm[k * self.config.batch_size : (k + 1) * self.config.batch_size]

    def step_generator(self, step: int) -> torch.Generator:
        """The generator of step ``step``'s noise (same on every rank)."""
        return torch.Generator().manual_seed(self.config.seed * STEP_SEED_STRIDE + step)

    def rank_slice(self) -> tuple[int, int]:
        """This rank's range of examples within a global batch."""
        per_rank = self.config.batch_size // world_size()
        return rank() * per_rank, (rank() + 1) * per_rank

    def to_local(self, state: State) -> State:
        """This rank's graphs of a global-batch ``state``, renumbered and moved to the device."""
        return state.graphs(*self.rank_slice()).to(self.device)

    def local_batch(self, x0: State, t: torch.Tensor, noise: State, **extra) -> TrainingBatch:
        """This rank's share of a global batch on the device (``extra``: the other fields of
        :class:`TrainingBatch`, already this rank's)."""
        lo, hi = self.rank_slice()
        return TrainingBatch(self.to_local(x0), t[lo:hi].to(self.device), self.to_local(noise), **extra)

    # ------------------------------------------------------------------ loop
    def lr_at(self, step: int) -> float:
        """Linear warm-up to ``lr``, constant, then (with ``cooldown_steps``) linear to zero at
        ``max_steps``."""
        cfg = self.config
        factor = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        if cfg.cooldown_steps:
            factor = min(factor, (cfg.max_steps - step) / cfg.cooldown_steps)
        return cfg.lr * factor

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        with autocast(self.device, cfg.precision):
            loss, parts = self.loss(self.step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        if torch.isfinite(grad_norm):
            self.opt.step()
            with torch.no_grad():
                decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
                for e, p in zip(self.ema.parameters(), self.net.parameters()):
                    e.lerp_(p, 1 - decay)
        else:
            logger.warning("step %d: non-finite gradient, update skipped", self.step)
        self.step += 1
        return {
            "loss": float(loss.detach()),
            **{k: float(v) for k, v in parts.items()},
            "lr": self.lr_at(self.step - 1),
            "grad_norm": float(grad_norm),
        }

    def train(self, progress: bool = False) -> Path:
        """Run until ``max_steps`` or ``max_minutes``; returns the final model folder."""
        from tqdm.auto import tqdm

        cfg = self.config
        if cfg.compile:  # here, not at construction, so that a resumed run's override counts
            compile_layers(self.net)
            compile_layers(self.ema)
        self.out.mkdir(parents=True, exist_ok=True)
        if is_main_process():
            self._trim_metrics()
        bar = tqdm(
            total=cfg.max_steps,
            initial=self.step,
            disable=not (progress and is_main_process()),
            desc="training",
            unit="step",
        )
        window_start, window_steps, started = time.perf_counter(), 0, time.perf_counter()
        base_elapsed = self.elapsed
        signals = StopSignals()
        try:
            while self.step < cfg.max_steps:
                if self._should_stop(signals.requested is not None):
                    break
                row = self.train_step()
                self.elapsed = base_elapsed + time.perf_counter() - started
                window_steps += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    now = time.perf_counter()
                    row.update(
                        step=self.step,
                        epoch=self.step / self.steps_per_epoch(),
                        minutes=self.elapsed / 60,
                    )
                    row[self.RATE_FIELD] = window_steps * cfg.batch_size / (now - window_start)
                    window_start, window_steps = now, 0
                    bar.set_postfix(loss=f"{row['loss']:.3f}")
                    self._log(row)
                if self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                    if is_main_process():
                        self.validate()
        finally:
            signals.restore()
            bar.close()
            self.save_checkpoint()
        if signals.requested is not None:
            raise KeyboardInterrupt(f"training stopped by {signals.requested} at step {self.step}")
        return self.export(self.out / "model")

    def _should_stop(self, signalled: bool) -> bool:
        """``max_minutes`` reached or a stop signal arrived; under DDP every rank follows rank 0
        (same step)."""
        limit = self.config.max_minutes
        stop = signalled or bool(limit and self.elapsed >= 60 * limit)
        if world_size() > 1:
            flag = torch.tensor([float(stop)], device=self.device)
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        return stop

    # ------------------------------------------------------------------ I/O
    def export(self, folder: Path) -> Path:
        """save_pretrained of the EMA weights (rank 0 only)."""
        info = _training_info(self.prior, self.step, self.elapsed, to_dict(self.config))
        info["num_train_examples"] = len(self.encoded)
        if is_main_process():
            sampling = self.prior.get("sampling")
            save_pretrained(folder, self.model_config, self.ema, self.stats, info, sampling=sampling)
        return folder

    def save_checkpoint(self) -> None:
        if not is_main_process():
            return
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "kind": self.KIND,
            "model": self.net.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "model_config": json.dumps(to_dict(self.model_config)),
            "train_config": json.dumps(to_dict(self.config)),
            "stats": json.dumps(self.stats.to_json()),
            "prior": json.dumps(self.prior),
        }
        with atomic_path(self.ckpt_path) as tmp:
            torch.save(state, tmp)

    def _load_checkpoint(self) -> dict | None:
        if not self.ckpt_path.exists():
            logger.warning("--resume: no checkpoint at %s; starting a new run", self.ckpt_path)
            return None
        checkpoint = read_checkpoint(self.ckpt_path)
        if checkpoint.get("kind", "molecules") != self.KIND:
            raise ValueError(f"{self.ckpt_path} is a {checkpoint.get('kind', 'molecules')} checkpoint")
        return checkpoint

    def _log(self, row: dict) -> None:
        if not is_main_process():
            return
        path = self.out / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metric_fields)
            if new:
                writer.writeheader()
            writer.writerow(
                {k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in self.metric_fields}
            )
        parts = ", ".join(f"{k.removeprefix('loss_')} {row[k]:.4f}" for k in self.LOSS_FIELDS)
        logger.info(
            "step %d loss %.4f (%s) %.0f %s",
            row["step"],
            row["loss"],
            parts,
            row[self.RATE_FIELD],
            self.RATE_FIELD.removesuffix("_per_s") + "/s",
        )

    def _trim_metrics(self) -> None:
        """Drop metric rows logged after the checkpoint we resumed from."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metric_fields)
            writer.writeheader()
            writer.writerows(rows)


NO_PRIOR = {"steps": 0, "wall_minutes": 0.0}


class StopSignals:
    """Graceful stop of a training loop (installed by the constructor, main thread only).

    The first SIGINT or SIGTERM sets ``requested`` (the signal's name): the loop finishes its
    current step, saves a checkpoint and raises KeyboardInterrupt. A second one interrupts at
    once. This also holds in a background job (``nohup molgen train ... &``), where the shell
    leaves SIGINT ignored: such a job can be stopped with ``kill -INT`` as well as ``kill``.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, signum: int, frame) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        self.requested = signal.Signals(signum).name
        logger.warning("%s received: stopping after this step (again to stop at once)", self.requested)

    def restore(self) -> None:
        """Put back the handlers found at construction."""
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def read_checkpoint(path: str | Path) -> dict:
    """A training checkpoint, loaded with ``weights_only=True`` (code-carrying pickles are refused)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError for code-carrying pickles, and others
        raise ValueError(f"refusing to load checkpoint {path}: {err}") from None


def _prior(checkpoint: dict) -> dict:
    return json.loads(checkpoint["prior"]) if "prior" in checkpoint else dict(NO_PRIOR)


def _training_info(prior: dict, step: int, elapsed: float, train_config: dict) -> dict:
    """Cumulative steps and wall minutes (including training behind init_from weights)."""
    return {
        "steps": prior["steps"] + int(step),
        "wall_minutes": round(prior["wall_minutes"] + float(elapsed) / 60, 2),
        "train_config": train_config,
    }


def export_checkpoint(checkpoint: str | Path, folder: str | Path) -> Path:
    """Write the EMA weights of a training checkpoint (any kind) as a ``save_pretrained`` folder."""
    state = read_checkpoint(checkpoint)
    kind = state.get("kind", "molecules")
    config = from_stored(MODEL_KINDS[kind][0], json.loads(state["model_config"]))
    net = build_denoiser(config)
    net.load_state_dict(state["ema"])
    prior = _prior(state)
    info = _training_info(prior, state["step"], state["elapsed"], json.loads(state["train_config"]))
    stats = DataStats.from_json(json.loads(state["stats"]))
    return save_pretrained(folder, config, net, stats, info, sampling=prior.get("sampling"))


def _load_grown(net: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load ``state`` into ``net``, which may have modules the source lacks (they keep their
    initialisation); any other difference is an error."""
    own = net.state_dict()
    mismatched = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if mismatched:
        raise ValueError(
            f"{source}: weights do not fit this model config ({', '.join(mismatched[:5])}); "
            "a config may only add modules to the model it starts from"
        )
    added = sorted({k.split(".")[0] for k in own if k not in state})
    net.load_state_dict(state, strict=False)
    if added:
        logger.info("initialised from %s; new modules start fresh: %s", source, ", ".join(added))
