import dataclasses
import json
import pickle
import shutil

import pytest
import torch

from molgen.config import (
    BackboneRunConfig,
    RegressorRunConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    from_stored,
    load_config,
)
from molgen.testing import TINY_MODEL, TINY_TRAIN
from molgen.training.trainer import MoleculeTrainer


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_training_reduces_the_loss(tmp_path, qm9_train):
    cfg = dataclasses.replace(TINY_TRAIN, max_steps=60, log_every=10, lr=3e-3)
    trainer = MoleculeTrainer(qm9_train.subset(range(256)), tmp_path, TINY_MODEL, cfg)
    first = [trainer.train_step()["loss"] for _ in range(10)]
    for _ in range(50):
        last = trainer.train_step()["loss"]
    later = [trainer.train_step()["loss"] for _ in range(10)]
    assert sum(later) < 0.9 * sum(first), (first, later, last)


def test_learning_rate_warms_up_holds_then_cools_down_to_zero(tmp_path, qm9_train):
    cfg = dataclasses.replace(TINY_TRAIN, lr=1e-3, warmup_steps=4, max_steps=20, cooldown_steps=8)
    trainer = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, TINY_MODEL, cfg)
    lrs = [trainer.lr_at(step) for step in range(20)]
    assert lrs[0] == pytest.approx(2.5e-4) and lrs[3:13] == pytest.approx([1e-3] * 10)
    assert lrs[16] == pytest.approx(5e-4) and lrs[19] == pytest.approx(1.25e-4)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    with pytest.raises(ValueError, match="cooldown_steps"):
        dataclasses.replace(cfg, cooldown_steps=21)


def test_resume_reproduces_an_uninterrupted_run(tmp_path, qm9_train):
    data = qm9_train.subset(range(64))
    cfg = dataclasses.replace(TINY_TRAIN, max_steps=6, checkpoint_every=3)
    full = MoleculeTrainer(data, tmp_path / "full", TINY_MODEL, cfg).train()

    MoleculeTrainer(data, tmp_path / "split", TINY_MODEL, dataclasses.replace(cfg, max_steps=3)).train()
    resumed = MoleculeTrainer(data, tmp_path / "split", resume=True)
    resumed.config = dataclasses.replace(resumed.config, max_steps=6)
    assert resumed.step == 3
    split = resumed.train()

    a, b = weights(full), weights(split)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    rows = (tmp_path / "split" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_compiled_layers_train_as_the_eager_ones(tmp_path, qm9_train):
    data = qm9_train.subset(range(64))
    cfg = dataclasses.replace(TINY_TRAIN, max_steps=4)
    eager = MoleculeTrainer(data, tmp_path / "eager", TINY_MODEL, cfg).train()
    trainer = MoleculeTrainer(data, tmp_path / "compiled", TINY_MODEL, cfg)
    trainer.config = dataclasses.replace(cfg, compile=True)  # as `molgen train --compile` overrides it
    compiled = trainer.train()
    assert all(layer._compiled_call_impl is not None for layer in trainer.net.layers)
    a, b = weights(eager), weights(compiled)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


def test_resume_with_new_training_settings_keeps_them(tmp_path, qm9_train):
    """A cooldown with another loss weighting: the given settings replace the stored ones on
    resume and are what the next checkpoint stores; without them the stored ones come back."""
    data = qm9_train.subset(range(64))
    cfg = dataclasses.replace(TINY_TRAIN, max_steps=2, checkpoint_every=2)
    MoleculeTrainer(data, tmp_path, TINY_MODEL, cfg).train()
    assert MoleculeTrainer(data, tmp_path, resume=True).config == cfg
    changed = dataclasses.replace(cfg, max_steps=4, cooldown_steps=2, min_snr_gamma=200.0)
    resumed = MoleculeTrainer(data, tmp_path, TINY_MODEL, changed, resume=True)
    assert resumed.step == 2 and resumed.config == changed
    resumed.train()
    again = MoleculeTrainer(data, tmp_path, resume=True)
    assert again.step == 4 and again.config.min_snr_gamma == 200.0


def test_training_writes_metrics_checkpoint_and_model(tmp_path, qm9_train):
    folder = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, TINY_MODEL, TINY_TRAIN).train()
    assert (tmp_path / "metrics.csv").read_text().startswith("step,epoch,loss")
    assert (tmp_path / "checkpoints" / "last.pt").exists()
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "stats.json"}


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_malicious_checkpoint_is_refused(tmp_path, qm9_train):
    ckpt = tmp_path / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"model": _Exploit()}, ckpt, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(ValueError, match="refusing to load"):
        MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, resume=True)


def test_config_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        from_dict(TrainConfig, {"batch_sise": 3})
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  denoiser:\n    hidden: 32\ntrain:\n  lr: 0.01\n")
    run = load_config(RunConfig, path)
    assert run.model.denoiser.hidden == 32 and run.train.lr == 0.01
    path.write_text("model:\n  denoiser:\n    hiden: 32\n")
    with pytest.raises(ValueError, match="hiden"):
        load_config(RunConfig, path)


def test_config_values_are_checked_against_their_types(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "train:\n  lr: 1e-3\n  weight_decay: 0\n  max_steps: 2e3\n"
    )  # YAML reads 1e-3 as a string
    train = load_config(RunConfig, path).train
    assert (train.lr, train.weight_decay, train.max_steps) == (0.001, 0.0, 2000)
    assert isinstance(train.weight_decay, float) and isinstance(train.max_steps, int)
    path.write_text("train:\n  seed: 1152921504606846977\n")  # ints stay exact
    assert load_config(RunConfig, path).train.seed == 2**60 + 1
    for bad, match in (
        ("batch_size: eight", "batch_size"),
        ("batch_size: 8.5", "batch_size"),
        ("lr: [1]", "lr"),
        ("lr: .nan", "lr"),
        ("grad_clip: .inf", "grad_clip"),
    ):
        path.write_text(f"train:\n  {bad}\n")
        with pytest.raises(ValueError, match=f"TrainConfig.{match}: expected"):
            load_config(RunConfig, path)
    with pytest.raises(ValueError, match="self_condition: expected bool"):
        from_dict(BackboneRunConfig, {"model": {"denoiser": {"self_condition": "yes please"}}})


def test_unknown_elements_are_rejected(tmp_path, qm9_train):
    four = dataclasses.replace(TINY_MODEL, vocab=("H", "C", "N", "O"))
    with pytest.raises(
        ValueError, match=r"atom types \['F'\] .* not in the model's vocabulary .* leave model.vocab"
    ):
        MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, four, TINY_TRAIN)


def test_inconsistent_or_non_positive_configs_are_rejected():
    with pytest.raises(ValueError, match="implicit hydrogens"):
        dataclasses.replace(TINY_MODEL, vocab=("H", "C"), hydrogens="implicit")
    for key in ("batch_size", "log_every", "checkpoint_every"):
        with pytest.raises(ValueError, match=key):
            dataclasses.replace(TINY_TRAIN, **{key: 0})


def test_training_can_continue_from_a_model_folder(tmp_path, qm9_train, tiny_model_dir):
    from molgen.models.pretrained import load_pretrained, load_sampling_defaults

    source = tmp_path / "source"  # a model folder with its own sampler defaults, as the bundled ones
    shutil.copytree(tiny_model_dir, source)
    meta = json.loads((source / "config.json").read_text())
    meta["sampling"] = {"sampler": "ancestral", "steps": 7}
    (source / "config.json").write_text(json.dumps(meta))
    _, net, stats, info = load_pretrained(source)
    data = qm9_train.subset(range(64))
    trainer = MoleculeTrainer(data, tmp_path, train_config=TINY_TRAIN, init_from=source)
    assert trainer.step == 0 and trainer.prior["steps"] == info["steps"] and trainer.stats == stats
    for key, value in net.state_dict().items():
        torch.testing.assert_close(trainer.ema.state_dict()[key], value)
    folder = trainer.train()  # TINY_TRAIN.max_steps more steps, counted from 0 in this run
    from molgen.models.pretrained import load_pretrained as reload

    assert reload(folder)[3]["steps"] == info["steps"] + TINY_TRAIN.max_steps
    from molgen.training.trainer import export_checkpoint

    exported = export_checkpoint(tmp_path / "checkpoints" / "last.pt", tmp_path / "exported")
    assert reload(exported)[3]["steps"] == info["steps"] + TINY_TRAIN.max_steps
    for model in (folder, exported):  # the continued model samples as its source did
        assert load_sampling_defaults(model) == {"sampler": "ancestral", "steps": 7}


def test_trainer_leaves_the_global_rng_alone(tmp_path, qm9_train):
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, TINY_MODEL, TINY_TRAIN)
    torch.testing.assert_close(torch.rand(2), expected)


@pytest.mark.parametrize(
    ("name", "yaml_name", "kind"),
    [
        ("qm9", "qm9_bonds_cooldown.yaml", "molecules"),  # stage 5: the cooldown of the bond stage
        ("qm9-heavy", "qm9_heavy_train_gpu.yaml", "molecules"),
        ("qm9-heavy-bonds", "qm9_heavy_bonds_fragments.yaml", "molecules"),  # its last stage
        ("backbones", "backbones_pair_train_cpu.yaml", "backbones"),  # stages 4-6: the pair-aware CPU stages
        ("qm9-heavy-cond", "qm9_heavy_cond_train_gpu.yaml", "molecules"),
        ("qm9-heavy-alpha", "qm9_heavy_alpha_train_gpu.yaml", "molecules"),
        ("qm9-heavy-gap", "qm9_heavy_gap_train.yaml", "molecules"),
        ("qm9-heavy-regressor", "qm9_heavy_regressor_train.yaml", "regressor"),
    ],
)
def test_the_bundled_models_training_config_matches_the_bundled_model(name, yaml_name, kind):
    from pathlib import Path

    from molgen.models.pretrained import load_pretrained

    run_cls = {"molecules": RunConfig, "backbones": BackboneRunConfig, "regressor": RegressorRunConfig}[kind]
    run = load_config(run_cls, Path(__file__).resolve().parents[1] / "examples" / yaml_name)
    config, _, _, info = load_pretrained(name, kind=kind)
    assert _with_stored_vocab(run.model, config) == config
    # the command-line overrides --max-steps etc., --precision and --compile (given in the model
    # card); how many designs the validation samples does not change the weights
    limits = {"max_steps", "max_minutes", "cooldown_steps", "precision", "compile", "validation_designs"}
    # the stored train config as read today: fields added since take their defaults, the
    # molecule-only keys earlier versions stored with backbone and regressor runs go (if default)
    stored = dataclasses.asdict(from_stored(type(run.train), info["train_config"]))
    train = dataclasses.asdict(run.train)
    assert {k: train[k] for k in train.keys() - limits} == {k: stored[k] for k in stored.keys() - limits}


@pytest.mark.parametrize(
    ("name", "yaml_name", "kind"),
    [
        ("qm9", "qm9_bonds_train_gpu.yaml", "molecules"),  # its next stage
        ("qm9-heavy-bonds", "qm9_heavy_bonds_train_gpu.yaml", "molecules"),  # its next stage
        ("qm9-heavy", "qm9_heavy_train.yaml", "molecules"),
        ("backbones", "backbones_pair_train_gpu.yaml", "backbones"),  # its next stage
        ("qm9-heavy-cond", "qm9_heavy_cond_train.yaml", "molecules"),
        ("qm9-heavy-alpha", "qm9_heavy_alpha_train.yaml", "molecules"),
    ],
)
def test_the_bundled_models_earlier_stage_configs_build_the_same_model(name, yaml_name, kind):
    """The CPU-stage configs of models whose last stage ran elsewhere still describe their network."""
    from pathlib import Path

    from molgen.models.pretrained import load_pretrained

    run_cls = {"molecules": RunConfig, "backbones": BackboneRunConfig}[kind]
    run = load_config(run_cls, Path(__file__).resolve().parents[1] / "examples" / yaml_name)
    config = load_pretrained(name, kind=kind)[0]
    assert _with_stored_vocab(run.model, config) == config


def _with_stored_vocab(model, stored):
    """A config's model section with the stored model's vocabulary where the config takes the atom
    types from the data (``vocab: []``)."""
    if getattr(model, "vocab", True) == ():
        assert stored.vocab
        return dataclasses.replace(model, vocab=stored.vocab)
    return model


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_training_with_a_checkpoint_also_in_a_background_job(tmp_path, sig):
    """`nohup molgen train ... &` leaves SIGINT ignored; SIGINT and SIGTERM must still stop the
    run through its checkpointing exit path (checkpoint_every is too large to have saved one)."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from molgen.config import to_dict
    from molgen.training.loop import read_checkpoint

    run = RunConfig(
        model=TINY_MODEL, train=dataclasses.replace(TINY_TRAIN, max_steps=100_000, checkpoint_every=10**6)
    )
    (tmp_path / "run.json").write_text(json.dumps(to_dict(run)))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "molgen.cli", "train", "molecules", "--data", "qm9-subset"]
    command += ["--out", str(out), "--config", str(tmp_path / "run.json"), "--device", "cpu"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as in a background job
    )
    metrics = out / "metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=60)
    assert proc.returncode != 0
    logged = len(metrics.read_text().splitlines()) - 1
    assert read_checkpoint(out / "checkpoints" / "last.pt")["step"] >= logged >= 3


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path):
    """SIGKILL at a random moment (maybe while a checkpoint is being written): the checkpoint left
    under the final name is whole, and resuming from it ends with the uninterrupted run's weights."""
    import json
    import random
    import signal
    import subprocess
    import sys
    import time

    from safetensors.torch import load_file

    from molgen.config import to_dict
    from molgen.training.loop import read_checkpoint

    steps = 400
    run = RunConfig(
        model=TINY_MODEL,
        train=dataclasses.replace(TINY_TRAIN, max_steps=steps, checkpoint_every=3, log_every=50),
    )
    (tmp_path / "run.json").write_text(json.dumps(to_dict(run)))

    def command(out, *extra):
        base = [
            sys.executable,
            "-m",
            "molgen.cli",
            "train",
            "molecules",
            "--data",
            "qm9-subset",
            "--device",
            "cpu",
        ]
        return [*base, "--out", str(out), "--config", str(tmp_path / "run.json"), *extra]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
        time.sleep(0.01)
    time.sleep(random.Random().uniform(0.0, 0.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill; raise `steps`"
    assert 0 < read_checkpoint(checkpoint)["step"] < steps  # whole, readable, mid-run
    assert not (killed / "model").exists()

    subprocess.run(command(killed, "--resume"), check=True, capture_output=True, timeout=300)
    subprocess.run(command(tmp_path / "straight"), check=True, capture_output=True, timeout=300)
    resumed = load_file(str(killed / "model" / "model.safetensors"))
    straight = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    assert resumed.keys() == straight.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0)
