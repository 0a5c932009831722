"""Property-based tests: random and truncated inputs to every reader and parser end in a result
or in molgen's own clear error (ValueError), never in another exception."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molgen.config import RunConfig, load_config
from molgen.generators.conditioners import SecondaryStructure, parse_range, parse_ss_fraction
from molgen.generators.contig import parse_contig
from molgen.generators.molecules import parse_num_atoms, parse_properties
from molgen.io.pdb import read_chains
from molgen.io.sdf import iter_sdf_records, read_sdf
from molgen.io.smiles import read_smiles
from molgen.runtime import bundled_data

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(
    max_examples=int(os.environ.get("MOLGEN_FUZZ_EXAMPLES", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SDF_TEXT = bundled_data("fragments", "furan.sdf").read_text()
PDB_TEXT = bundled_data("motif_benchmark", "5tpn.pdb").read_text()


def only_clear_errors(fn, *args):
    """Run ``fn``; a ValueError is a clear refusal, any other exception fails the test."""
    try:
        return fn(*args)
    except ValueError as err:
        assert str(err)  # a message, not a bare error
        return None


def mutated(text: str, data) -> str:
    """``text`` truncated at a random point, with a random slice replaced by random characters."""
    cut = data.draw(st.integers(0, len(text)))
    start = data.draw(st.integers(0, cut))
    noise = data.draw(st.text(max_size=40))
    return text[:start] + noise + text[start + len(noise) : cut]


@FUZZ
@given(st.text(alphabet="ABC0123456789-/,; _xE", max_size=40) | st.text(max_size=40))
def test_contig_parser(text):
    only_clear_errors(parse_contig, text)


@FUZZ
@given(st.text(alphabet="HELhel-X? \n0", max_size=40) | st.text(max_size=20))
def test_secondary_structure_strings(text):
    only_clear_errors(SecondaryStructure, text)
    only_clear_errors(parse_ss_fraction, text)
    only_clear_errors(parse_range, text)


@FUZZ
@given(st.text(alphabet="0123456789-=.e+ alphagp", max_size=20) | st.text(max_size=20))
def test_cli_value_parsers(text):
    only_clear_errors(parse_num_atoms, text)
    only_clear_errors(parse_properties, [text])


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
CONFIG_KEYS = st.sampled_from(
    ["model", "train", "denoiser", "sde", "vocab", "lr", "batch_size", "properties", "x"]
)


@FUZZ
@given(
    st.dictionaries(
        CONFIG_KEYS, YAML_VALUES | st.dictionaries(CONFIG_KEYS, YAML_VALUES, max_size=3), max_size=3
    )
    | st.text(max_size=60)
)
def test_config_loader(tmp_path_factory, content):
    import yaml

    path = tmp_path_factory.mktemp("cfg") / "run.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    only_clear_errors(load_config, RunConfig, path)


@FUZZ
@given(st.data())
def test_sdf_reader_on_truncated_and_corrupted_files(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("sdf") / "x.sdf"
    path.write_text(mutated(SDF_TEXT * 2, data))
    only_clear_errors(lambda p: list(iter_sdf_records(p)), path)
    only_clear_errors(lambda p: list(read_sdf(p)), path)


@FUZZ
@given(st.binary(max_size=300))
def test_sdf_reader_on_random_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("sdf") / "x.sdf"
    path.write_bytes(blob)
    only_clear_errors(lambda p: list(read_sdf(p)), path)


@FUZZ
@given(st.lists(st.text(alphabet="CNOFcno()=#123[]+-H@. \t", max_size=15) | st.text(max_size=15), max_size=5))
def test_smiles_reader(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("smi") / "x.smi"
    path.write_bytes("\n".join(lines).encode("utf-8", errors="replace"))
    only_clear_errors(lambda p: list(read_smiles(p)), path)


@FUZZ
@given(st.data())
@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_structure_reader_on_truncated_and_corrupted_files(tmp_path_factory, suffix, data):
    path = tmp_path_factory.mktemp("pdb") / f"x{suffix}"
    path.write_bytes(mutated(PDB_TEXT, data).encode("utf-8", errors="replace"))
    only_clear_errors(read_chains, path)
