"""A sampling run killed at a random moment and resumed gives the uninterrupted run's output."""

import filecmp
import json
import random
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from molgen.cli import app

runner = CliRunner()


def molgen(*args):
    """A real ``molgen`` process (so real signals reach it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "molgen.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_after_first_records(proc, partial, sig, rng, seconds):
    """Wait until ``partial`` holds something, then send ``sig`` at a random moment within the
    next half of ``seconds`` (what the whole run takes, so that it is still running); returns
    the process's exit code."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if partial.exists() and (any(partial.iterdir()) if partial.is_dir() else partial.stat().st_size):
            break
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.5 * seconds))
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_molecules_resume_to_the_uninterrupted_file(tmp_path, tiny_model_dir, sig):
    args = ["sample", "molecules", "--model", tiny_model_dir, "-n", 240, "--batch-size", 8, "--seed", 5]
    start = time.monotonic()
    full = runner.invoke(app, [*args, "-o", tmp_path / "full.sdf"])
    seconds = time.monotonic() - start
    assert full.exit_code == 0, full.output
    out = tmp_path / "run.sdf"
    proc = molgen(*args, "-o", out)
    code = kill_after_first_records(proc, tmp_path / "run.sdf.partial", sig, random.Random(sig), seconds)
    assert code == (130 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert not out.exists()  # never a partial file under the final name
    assert json.loads((tmp_path / "run.sdf.partial.json").read_text())["seed"] == 5
    fresh = runner.invoke(app, [*args, "-o", out])  # starting over an interrupted run is refused
    assert fresh.exit_code == 2 and "--resume" in fresh.output
    changed = runner.invoke(app, [*args[:-1], 6, "-o", out, "--resume"])
    assert changed.exit_code == 2 and "['seed']" in changed.output
    resumed = runner.invoke(app, [*args, "-o", out, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert out.read_bytes() == (tmp_path / "full.sdf").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.sdf", "run.sdf"]  # no leftovers


def test_backbones_resume_to_the_uninterrupted_folder(tmp_path, tiny_backbone_model_dir):
    args = ["sample", "backbones", "--model", tiny_backbone_model_dir, "--length", "30-50", "-n", 12]
    args += ["--batch-size", 2, "--steps", 20, "--seed", 2]
    start = time.monotonic()
    full = runner.invoke(app, [*args, "--out", tmp_path / "full"])
    seconds = time.monotonic() - start
    assert full.exit_code == 0, full.output
    proc = molgen(*args, "--out", tmp_path / "run")
    code = kill_after_first_records(proc, tmp_path / "run.partial", signal.SIGTERM, random.Random(1), seconds)
    assert code == 130 and not (tmp_path / "run").exists()
    resumed = runner.invoke(app, [*args, "--out", tmp_path / "run", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    comparison = filecmp.dircmp(tmp_path / "full", tmp_path / "run")
    assert sorted(comparison.same_files) == sorted(p.name for p in (tmp_path / "full").iterdir())
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "full", tmp_path / "run", comparison.common_files, shallow=False
    )
    assert not mismatch and not errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "run"]


def test_bad_input_and_resume_without_a_run_leave_nothing(tmp_path, tiny_model_dir):
    out = tmp_path / "x.sdf"
    missing = runner.invoke(app, ["sample", "molecules", "--model", tiny_model_dir, "-o", out, "--resume"])
    assert missing.exit_code == 2 and "no interrupted run" in missing.output
    bad = runner.invoke(
        app, ["sample", "molecules", "--model", tiny_model_dir, "-o", out, "--num-atoms", "0-2", "--seed", 1]
    )
    assert bad.exit_code == 2
    assert list(tmp_path.iterdir()) == []
