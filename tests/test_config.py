"""Configuration files: ``extends:`` chains, and legacy keys of stored configs."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from molgen.config import (
    BackboneRunConfig,
    BackboneTrainConfig,
    BaseTrainConfig,
    DenoiserConfig,
    ModelConfig,
    RegressorConfig,
    RegressorRunConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    from_stored,
    load_config,
    to_dict,
)
from molgen.testing import TINY_BACKBONE_TRAIN, TINY_MODEL

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_extends_merges_mappings_and_the_including_file_wins(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "root.yaml").write_text(
        "model:\n  vocab: [C, N, O, F]\n  hydrogens: implicit\n  denoiser: {hidden: 64, num_layers: 3}\n"
        "train:\n  lr: 0.01\n  seed: 7\n"
    )
    (tmp_path / "base" / "cond.yaml").write_text(  # a relative path: next to the file that says it
        "extends: root.yaml\nmodel:\n  properties: [alpha, gap]\n  denoiser: {num_layers: 4}\n"
    )
    (tmp_path / "gpu.yaml").write_text(
        "extends: base/cond.yaml\nmodel:\n  properties: [gap]\ntrain:\n  lr: 0.001\n  batch_size: 512\n"
    )
    run = load_config(RunConfig, tmp_path / "gpu.yaml")
    assert run.model == ModelConfig(
        vocab=("C", "N", "O", "F"),
        hydrogens="implicit",
        denoiser=DenoiserConfig(hidden=64, num_layers=4),  # merged key by key over two levels
        properties=("gap",),  # lists are replaced, not merged
    )
    assert run.train == TrainConfig(lr=0.001, seed=7, batch_size=512)
    assert load_config(RunConfig, tmp_path / "base" / "cond.yaml").model.properties == ("alpha", "gap")


def test_an_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\ntrain: {lr: 0.1}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ValueError, match="extends` cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(RunConfig, tmp_path / "a.yaml")
    (tmp_path / "self.yaml").write_text("extends: self.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        load_config(RunConfig, tmp_path / "self.yaml")


def test_extending_a_missing_or_bad_file_is_a_clear_error(tmp_path):
    (tmp_path / "run.yaml").write_text("extends: nowhere.yaml\ntrain: {lr: 0.1}\n")
    with pytest.raises(ValueError, match=r"cannot read config .*nowhere.yaml \(extended by .*run.yaml\)"):
        load_config(RunConfig, tmp_path / "run.yaml")
    for value in ("[a.yaml]", "''", "3"):
        (tmp_path / "run.yaml").write_text(f"extends: {value}\n")
        with pytest.raises(ValueError, match="`extends` must be a file name"):
            load_config(RunConfig, tmp_path / "run.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    (tmp_path / "run.yaml").write_text("extends: list.yaml\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_config(RunConfig, tmp_path / "run.yaml")
    (tmp_path / "run.yaml").write_text("model:\n  extends: other.yaml\n")  # only at the top
    with pytest.raises(ValueError, match="unknown keys \\['extends'\\]"):
        load_config(RunConfig, tmp_path / "run.yaml")


def test_derived_sizes_are_computed_and_not_config_keys(tmp_path):
    config = ModelConfig(vocab=("C", "N", "O", "F"), hydrogens="implicit", properties=("alpha", "gap"))
    assert (config.num_types, config.num_conditions) == (4, 4)
    assert {"num_types", "num_conditions"}.isdisjoint(to_dict(config)["denoiser"])
    (tmp_path / "run.yaml").write_text("model:\n  denoiser: {hidden: 32, num_types: 5}\n")
    with pytest.raises(ValueError, match="unknown keys \\['num_types'\\]"):  # only stored configs have them
        load_config(RunConfig, tmp_path / "run.yaml")


def test_the_regressor_network_keeps_its_own_defaults():
    assert RegressorConfig().network == DenoiserConfig(hidden=128, num_layers=6)
    partial = from_dict(RegressorConfig, {"network": {"edge_hidden": 32}})
    assert partial.network == DenoiserConfig(hidden=128, edge_hidden=32, num_layers=6)


def test_stored_model_configs_accept_the_derived_keys_only_when_consistent():
    config = ModelConfig(vocab=("H", "C", "N", "O", "F"), properties=("alpha",))
    stored = to_dict(config)
    stored["denoiser"].update(num_types=5, num_conditions=2)
    assert from_stored(ModelConfig, stored) == ModelConfig(
        vocab=("H", "C", "N", "O", "F"), properties=("alpha",)
    )
    for key, value in (("num_types", 4), ("num_conditions", 0)):
        bad = json.loads(json.dumps(stored))
        bad["denoiser"][key] = value
        with pytest.raises(ValueError, match=f"stored denoiser.{key} = {value} contradicts"):
            from_stored(ModelConfig, bad)
    with pytest.raises(ValueError, match="unknown keys"):
        from_stored(ModelConfig, {**stored, "denoiser": {"num_types": 5, "hiden": 3}})


def test_stored_train_configs_accept_the_molecule_keys_of_earlier_versions_only_with_defaults():
    legacy = {"type_loss_weight": 1.0, "condition_dropout": 0.1}
    for cls in (BackboneTrainConfig, BaseTrainConfig):  # backbone and regressor runs
        stored = {**to_dict(cls(lr=0.01)), **legacy}
        assert from_stored(cls, stored) == cls(lr=0.01)
        for key in legacy:
            with pytest.raises(ValueError, match=f"stored {key} = 0.5 is a molecule-only setting"):
                from_stored(cls, {**stored, key: 0.5})
        with pytest.raises(ValueError, match="unknown keys"):
            from_stored(cls, {**stored, "batch_sise": 3})
        with pytest.raises(ValueError, match="unknown keys"):  # a run's YAML is not a stored config
            from_dict(cls, stored)
    assert from_stored(TrainConfig, {"condition_dropout": 0.5}).condition_dropout == 0.5


def test_an_old_model_folder_loads_with_the_same_weights(tmp_path, tiny_model_dir):
    from molgen.models.pretrained import load_pretrained

    old = tmp_path / "old"
    shutil.copytree(tiny_model_dir, old)
    meta = json.loads((old / "config.json").read_text())
    meta["model"]["denoiser"].update(num_types=5, num_conditions=0)  # as earlier versions wrote it
    (old / "config.json").write_text(json.dumps(meta))
    config, net, _, _ = load_pretrained(old)
    assert config == dataclasses.replace(TINY_MODEL, vocab=("H", "C", "N", "O", "F"))  # from the data
    _, same, _, _ = load_pretrained(tiny_model_dir)
    for key, value in same.state_dict().items():
        torch.testing.assert_close(net.state_dict()[key], value, rtol=0, atol=0)
    meta["model"]["denoiser"]["num_types"] = 4
    (old / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="num_types = 4 contradicts"):
        load_pretrained(old)


def test_an_old_backbone_checkpoint_resumes(tmp_path, tiny_backbone_model_dir, real_chains):
    from molgen.training.backbone_trainer import BackboneTrainer
    from molgen.training.loop import read_checkpoint

    checkpoint = read_checkpoint(tiny_backbone_model_dir.parent / "checkpoints" / "last.pt")
    for dropout, ok in ((0.1, True), (0.3, False)):
        train = {**to_dict(TINY_BACKBONE_TRAIN), "type_loss_weight": 1.0, "condition_dropout": dropout}
        run = tmp_path / str(dropout)
        (run / "checkpoints").mkdir(parents=True)
        torch.save({**checkpoint, "train_config": json.dumps(train)}, run / "checkpoints" / "last.pt")
        if ok:
            resumed = BackboneTrainer(real_chains[:16], run, resume=True)
            assert resumed.config == TINY_BACKBONE_TRAIN and resumed.step == checkpoint["step"]
        else:
            with pytest.raises(ValueError, match="condition_dropout = 0.3"):
                BackboneTrainer(real_chains[:16], run, resume=True)


@pytest.mark.parametrize(
    "section,message",
    [
        ({"model": {"vocab": "CNOF"}}, "ModelConfig.vocab: expected a list, got 'CNOF'"),
        ({"model": {"vocab": ["C", 6]}}, "ModelConfig.vocab: expected a string, got 6"),
        ({"model": {"sde": {"schedule": ["cosine"]}}}, "SDEConfig.schedule: expected a string"),
        ({"train": {"ema_decay": 1.0}}, "ema_decay must be in [0, 1)"),
        ({"train": {"grad_clip": 0}}, "grad_clip must be > 0"),
        ({"train": {"threads": -1}}, "threads must be >= 0"),
        ({"train": {"max_minutes": -5}}, "max_minutes must be >= 0"),
    ],
)
def test_a_config_value_of_the_wrong_kind_is_a_clear_error(section, message):
    with pytest.raises(ValueError) as error:
        from_dict(RunConfig, section)
    assert message in str(error.value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_loads(path):
    """The configs the docs point to parse into their run config (unknown keys would raise)."""
    if path.name.startswith("backbones"):
        kind = BackboneRunConfig
    elif "regressor" in path.name:
        kind = RegressorRunConfig
    else:
        kind = RunConfig
    load_config(kind, path)
