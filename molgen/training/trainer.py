"""A plain PyTorch training loop for the molecule denoiser.

AdamW with warm-up, gradient clipping, EMA weights, atomic checkpoints every N steps and at
exit, exact resume, and torchrun/DDP awareness (rank-0 I/O). Randomness is a pure function of
``(seed, step)``: the data order comes from a per-epoch permutation and the noise of step k from
a generator seeded with ``(seed, k)`` over the *global* batch, of which each rank takes its
slice. Resuming, or splitting a global batch over ranks, therefore reproduces the same run.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from molgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from molgen.datasets.packed import PackedMolecules
from molgen.diffusion.sde import VPSDE, State
from molgen.diffusion.targets import predict_x0
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.models.pretrained import DataStats, load_pretrained, save_pretrained
from molgen.runtime import atomic_path, is_main_process, rank, world_size
from molgen.structures.vocab import AtomVocab

logger = logging.getLogger("molgen")

METRIC_FIELDS = ["step", "epoch", "loss", "loss_pos", "loss_type", "lr", "grad_norm", "mol_per_s", "minutes"]


class EncodedMolecules:
    """Training tensors: centred, scaled coordinates and type indices of every atom."""

    def __init__(self, data: PackedMolecules, vocab: AtomVocab, coord_scale: float) -> None:
        lookup = np.full(256, -1, dtype=np.int64)
        for i, z in enumerate(vocab.atomic_numbers):
            lookup[z] = i
        types = lookup[data.atomic_numbers]
        if (types < 0).any():
            bad = sorted({int(z) for z in data.atomic_numbers[types < 0]})
            raise ValueError(f"atomic numbers {bad} are not in the vocabulary {list(vocab.symbols)}")
        self.data = data
        self.types = torch.from_numpy(types)
        self.pos = torch.from_numpy(centred_positions(data) / coord_scale).float()

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pos ``[N, 3]``, types ``[N]``, batch ``[N]``) for the molecules ``indices``."""
        rows, batch = self.data.atom_rows(indices)
        rows = torch.from_numpy(rows)
        return self.pos[rows], self.types[rows], torch.from_numpy(batch)


def centred_positions(data: PackedMolecules) -> np.ndarray:
    """``[total_atoms, 3]`` coordinates with each molecule's centre subtracted."""
    counts = data.num_atoms
    sums = np.add.reduceat(data.pos.astype(np.float64), data.offsets[:-1], axis=0)
    return data.pos - np.repeat(sums / counts[:, None], counts, axis=0)


def diffusion_loss(
    net: torch.nn.Module,
    sde: VPSDE,
    x0: State,
    types: torch.Tensor,
    t: torch.Tensor,
    noise: State,
    type_scale: float,
    min_snr_gamma: float,
    type_loss_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted x0 loss on coordinates plus cross-entropy on types, averaged over graphs.

    The coordinate weight per graph is ``min(1 + SNR, gamma)``: unit weight on the network
    output at high noise (the v-loss), capped at low noise (min-SNR-gamma, Hang et al. 2023).

    Returns:
        (total, coordinate part, type part), each a scalar.
    """
    z = sde.add_noise(x0, t, noise)
    pred, logits = predict_x0(net, sde, z, t, type_scale)
    weight = (1 + sde.snr(t)).clamp(max=min_snr_gamma)
    per_node = torch.zeros(x0.num_graphs, 2, dtype=x0.pos.dtype, device=x0.pos.device)
    node_terms = torch.stack(
        [(pred.pos - x0.pos).square().sum(-1), F.cross_entropy(logits, types, reduction="none")], -1
    )
    per_node.index_add_(0, x0.batch, node_terms)
    counts = torch.bincount(x0.batch, minlength=x0.num_graphs).clamp(min=1)
    per_graph = per_node / counts[:, None]
    loss_pos = (weight * per_graph[:, 0]).mean()
    loss_type = per_graph[:, 1].mean()
    return loss_pos + type_loss_weight * loss_type, loss_pos.detach(), loss_type.detach()


class MoleculeTrainer:
    """Trains a :class:`MoleculeDenoiser` on a packed molecule set into ``out_dir``.

    ``out_dir`` receives ``metrics.csv``, ``checkpoints/last.pt`` and, at the end, ``model/``
    (a :func:`save_pretrained` folder with the EMA weights).
    """

    def __init__(
        self,
        data: PackedMolecules,
        out_dir: str | Path,
        model_config: ModelConfig | None = None,
        train_config: TrainConfig | None = None,
        resume: bool = False,
        device: torch.device | str = "cpu",
        init_from: str | Path | None = None,
    ) -> None:
        """
        Args:
            resume: continue from ``out_dir/checkpoints/last.pt`` when it exists.
            init_from: start from a model folder's weights, config and statistics (used when
                the checkpoints are gone but the bundled weights remain). Steps, warm-up and
                ``max_steps`` count from 0 for this run; the folder's steps and wall time are
                added to the exported totals. Ignored when a checkpoint is resumed.
        """
        self.out = Path(out_dir)
        self.device = torch.device(device)
        self.ckpt_path = self.out / "checkpoints" / "last.pt"
        checkpoint = self._load_checkpoint() if resume else None
        initial = load_pretrained(init_from) if init_from is not None and checkpoint is None else None
        if initial is not None:
            model_config, _, self.stats, info = initial
            train_config = train_config or TrainConfig()
        elif checkpoint is not None:
            model_config = from_dict(ModelConfig, json.loads(checkpoint["model_config"]))
            train_config = from_dict(TrainConfig, json.loads(checkpoint["train_config"]))
            self.stats = DataStats.from_json(json.loads(checkpoint["stats"]))
        else:
            model_config = model_config or ModelConfig()
            train_config = train_config or TrainConfig()
            self.stats = DataStats.from_dataset(data.num_atoms, centred_positions(data))
        self.model_config, self.config = model_config, train_config
        if train_config.threads:
            torch.set_num_threads(train_config.threads)
        if train_config.batch_size % world_size():
            raise ValueError(f"batch_size {train_config.batch_size} must divide by {world_size()} ranks")
        if len(data) < train_config.batch_size:
            raise ValueError(f"{len(data)} molecules is fewer than one batch ({train_config.batch_size})")
        self.vocab = AtomVocab(model_config.vocab)
        self.encoded = EncodedMolecules(data, self.vocab, self.stats.coord_scale)
        self.sde = VPSDE(model_config.sde.schedule)
        with torch.random.fork_rng(devices=[]):  # same initial weights on every rank, global RNG untouched
            torch.manual_seed(train_config.seed)
            self.net = MoleculeDenoiser(model_config.denoiser).to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay
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
            self.net.load_state_dict(initial[1].state_dict())
            self.ema.load_state_dict(initial[1].state_dict())
            self.prior = {
                "steps": int(info.get("steps", 0)),
                "wall_minutes": float(info.get("wall_minutes", 0)),
            }
            logger.info("initialised from %s (%d earlier steps)", init_from, self.prior["steps"])
        self.model = self.net
        if world_size() > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(self.net)

    # ------------------------------------------------------------------ data
    def steps_per_epoch(self) -> int:
        return len(self.encoded) // self.config.batch_size

    def global_batch(self, step: int) -> np.ndarray:
        """Molecule indices of the global batch at ``step`` (epoch-wise permutation)."""
        spe = self.steps_per_epoch()
        epoch, k = divmod(step, spe)
        perm = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.encoded))
        return perm[k * self.config.batch_size : (k + 1) * self.config.batch_size]

    def local_inputs(self, step: int) -> tuple[State, torch.Tensor, torch.Tensor, State]:
        """This rank's share of the global batch: (x0, types, t, noise)."""
        b = self.config.batch_size
        pos, types, batch = self.encoded.batch(self.global_batch(step))
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
        t = (torch.rand((), generator=gen) + torch.arange(b) / b) % 1.0  # stratified times
        x0 = State(
            pos, F.one_hot(types, len(self.vocab)).float() * self.model_config.sde.type_scale, batch, b
        )
        noise = self.sde.noise_like(x0, gen)
        per_rank = b // world_size()
        lo, hi = rank() * per_rank, (rank() + 1) * per_rank
        atoms = (batch >= lo) & (batch < hi)

        def local(s: State) -> State:
            return State(
                s.pos[atoms].to(self.device),
                s.feat[atoms].to(self.device),
                (batch[atoms] - lo).to(self.device),
                per_rank,
            )

        return local(x0), types[atoms].to(self.device), t[lo:hi].to(self.device), local(noise)

    # ------------------------------------------------------------------ loop
    def lr_at(self, step: int) -> float:
        return self.config.lr * min(1.0, (step + 1) / max(1, self.config.warmup_steps))

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        x0, types, t, noise = self.local_inputs(self.step)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        loss, loss_pos, loss_type = diffusion_loss(
            self.model,
            self.sde,
            x0,
            types,
            t,
            noise,
            self.model_config.sde.type_scale,
            cfg.min_snr_gamma,
            cfg.type_loss_weight,
        )
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
            "loss_pos": float(loss_pos),
            "loss_type": float(loss_type),
            "lr": self.lr_at(self.step - 1),
            "grad_norm": float(grad_norm),
        }

    def train(self, progress: bool = False) -> Path:
        """Run until ``max_steps`` or ``max_minutes``; returns the final model folder."""
        from tqdm.auto import tqdm

        cfg = self.config
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
        try:
            while self.step < cfg.max_steps:
                if self._out_of_time():
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
                        mol_per_s=window_steps * cfg.batch_size / (now - window_start),
                        minutes=self.elapsed / 60,
                    )
                    window_start, window_steps = now, 0
                    bar.set_postfix(loss=f"{row['loss']:.3f}")
                    self._log(row)
                if self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
        finally:
            bar.close()
            self.save_checkpoint()
        return self.export(self.out / "model")

    def _out_of_time(self) -> bool:
        """``max_minutes`` reached; under DDP every rank stops at the same step (rank 0's clock)."""
        if not self.config.max_minutes:
            return False
        stop = torch.tensor([float(self.elapsed >= 60 * self.config.max_minutes)], device=self.device)
        if world_size() > 1:
            torch.distributed.broadcast(stop, src=0)
        return bool(stop.item())

    # ------------------------------------------------------------------ I/O
    def export(self, folder: Path) -> Path:
        """save_pretrained of the EMA weights (rank 0 only)."""
        info = _training_info(self.prior, self.step, self.elapsed, self.config)
        info["num_train_molecules"] = len(self.encoded)
        if is_main_process():
            save_pretrained(folder, self.model_config, self.ema, self.stats, info)
        return folder

    def save_checkpoint(self) -> None:
        if not is_main_process():
            return
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        state = {
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
            logger.info("no checkpoint at %s; starting fresh", self.ckpt_path)
            return None
        return read_checkpoint(self.ckpt_path)

    def _log(self, row: dict) -> None:
        if not is_main_process():
            return
        path = self.out / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(
                {k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRIC_FIELDS}
            )
        logger.info(
            "step %d loss %.4f (pos %.4f, type %.4f) %.0f mol/s",
            row["step"],
            row["loss"],
            row["loss_pos"],
            row["loss_type"],
            row["mol_per_s"],
        )

    def _trim_metrics(self) -> None:
        """Drop metric rows logged after the checkpoint we resumed from."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            writer.writeheader()
            writer.writerows(rows)


NO_PRIOR = {"steps": 0, "wall_minutes": 0.0}


def read_checkpoint(path: str | Path) -> dict:
    """A training checkpoint, loaded with ``weights_only=True`` (code-carrying pickles are refused)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError for code-carrying pickles, and others
        raise ValueError(f"refusing to load checkpoint {path}: {err}") from None


def _prior(checkpoint: dict) -> dict:
    return json.loads(checkpoint["prior"]) if "prior" in checkpoint else dict(NO_PRIOR)


def _training_info(prior: dict, step: int, elapsed: float, config: TrainConfig) -> dict:
    """Cumulative steps and wall minutes (including training behind init_from weights)."""
    return {
        "steps": prior["steps"] + int(step),
        "wall_minutes": round(prior["wall_minutes"] + float(elapsed) / 60, 2),
        "train_config": to_dict(config),
    }


def export_checkpoint(checkpoint: str | Path, folder: str | Path) -> Path:
    """Write the EMA weights of a training checkpoint as a ``save_pretrained`` folder."""
    state = read_checkpoint(checkpoint)
    config = from_dict(ModelConfig, json.loads(state["model_config"]))
    train_config = from_dict(TrainConfig, json.loads(state["train_config"]))
    net = MoleculeDenoiser(config.denoiser)
    net.load_state_dict(state["ema"])
    info = _training_info(_prior(state), state["step"], state["elapsed"], train_config)
    return save_pretrained(folder, config, net, DataStats.from_json(json.loads(state["stats"])), info)
