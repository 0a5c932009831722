"""Pictures: a 2D grid of molecules (sample and benchmark) and the backbone plot, opened and measured."""

import pytest
from matplotlib import image
from typer.testing import CliRunner

from molgen.benchmark.pictures import GRID_COLUMNS, PANEL
from molgen.cli import app
from molgen.io.pdb import write_pdb
from molgen.io.sdf import write_sdf

runner = CliRunner()


def test_sample_and_benchmark_molecules_draw_a_grid(tmp_path, tiny_model_dir, qm9_test):
    out, grid = tmp_path / "m.sdf", tmp_path / "grid.png"
    args = ["sample", "molecules", "--model", tiny_model_dir, "-n", 8, "-o", out, "--seed", 0, "--grid", grid]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert image.imread(grid).shape[:2] == (2 * PANEL[1], GRID_COLUMNS * PANEL[0])  # 8 molecules: 2 rows
    real = tmp_path / "real.sdf"
    write_sdf([qm9_test.molecule(i).to_rdkit() for i in range(30)], real)
    result = runner.invoke(app, ["benchmark", "molecules", str(real), "--grid", str(tmp_path / "real.png")])
    assert result.exit_code == 0, result.output
    pixels = image.imread(tmp_path / "real.png")
    assert pixels.shape[:2] == (4 * PANEL[1], GRID_COLUMNS * PANEL[0])  # the first 24 of 30
    assert pixels[..., :3].min() < 0.2  # something is drawn in black


def test_benchmark_backbones_plots_ss_strips_and_contact_maps(tmp_path, real_chains):
    designs = tmp_path / "designs"
    designs.mkdir()
    for k, chain in enumerate(real_chains[:2]):
        write_pdb(chain, designs / f"chain_{k}.pdb")
    plot = tmp_path / "plot.png"
    args = [
        "benchmark",
        "backbones",
        str(designs),
        "--novelty-reference",
        "0",
        "--no-diversity",
        "--plot",
        str(plot),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    height, width = image.imread(plot).shape[:2]
    assert width == pytest.approx(3 * 3.4 * 90, abs=2) and height == pytest.approx(3.6 * 90, abs=2)
