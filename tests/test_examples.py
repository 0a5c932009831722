"""The examples run as users would run them."""

import subprocess
import sys
from pathlib import Path

from rdkit import Chem

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, *args, cwd):
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


def test_sample_molecules_example(tmp_path):
    out = tmp_path / "x.sdf"
    result = run_example("sample_molecules.py", "--num", 5, "--steps", 10, "--out", out, cwd=tmp_path)
    assert "valid" in result.stdout
    assert len(list(Chem.SDMolSupplier(str(out), sanitize=False))) == 5


def test_train_tiny_example(tmp_path):
    result = run_example("train_tiny.py", "--out", tmp_path / "run", "--steps", 4, cwd=tmp_path)
    assert "sampled 4 molecules" in result.stdout
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()


def test_sample_backbones_example(tmp_path):
    result = run_example("sample_backbones.py", "--lengths", 45, 50, "--steps", 5, "--out", "d", cwd=tmp_path)
    assert result.stdout.count("residues, DSSP") == 2
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["design_0.pdb", "design_1.pdb"]
