#!/usr/bin/env bash
# Install molgen as users do (a wheel into a fresh venv) and run the README's user commands, with
# small counts, from a folder outside the checkout. Usage: .ci/wheel_smoke.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" wheel -q --no-deps -w "$work/dist" "$repo"
"$work/venv/bin/pip" install -q torch==2.13.0 "$work"/dist/molgen-*.whl
export PATH="$work/venv/bin:$PATH"
cd "$work"
run() { echo "+ $*"; "$@"; }
run molgen --version
run molgen sample molecules -n 20 -o molecules.sdf --seed 0 --grid grid.png
run molgen benchmark molecules molecules.sdf --bonds coordinates
run molgen benchmark molecules molecules.sdf
run molgen sample molecules --fragment benzene --num-atoms 7-9 -n 4 -o benzenes.sdf --seed 0
run molgen sample molecules --model qm9-heavy-cond -n 4 --property alpha=80 --guidance 2 -o alpha80.sdf --seed 0
run molgen sample backbones --length 60 --num-samples 2 --out designs/ --seed 0
run molgen benchmark backbones designs/ --novelty-reference 8
run molgen sample backbones --motif 5tpn --contig "10-40/A163-181/10-40" --length 50-75 -n 1 --out scaffolds/ --seed 0
run molgen sample backbones --motif 1bcf_2groups \
    --contig "8-15/A92-99@A/16-30/A123-130@A/16-30/A47-54@B/16-30/A18-25@B/8-15" -n 1 --out two_groups/ --seed 0
run molgen benchmark motifs --problems 5TPN -n 1
run molgen benchmark motifs --folder motif_multi -n 1
run molgen sample backbones --length 60 --ss-fraction helix=0.6,strand=0.0 -n 1 --out mostly_helix/ --seed 0
run molgen train molecules --data qm9-subset --out run_molecules --max-steps 2
run molgen train backbones --data pdb-chains --out run_backbones --max-steps 2
python - <<'PY'
from molgen import BackboneGenerator, MoleculeGenerator, bundled_data, read_first_molecule
from molgen.generators.conditioners import Length, Motif

mols = MoleculeGenerator.from_pretrained().sample(
    2, fixed=read_first_molecule(bundled_data("fragments", "benzene.sdf")), num_atoms=range(7, 10), seed=0
)
motif = Motif.from_contig(bundled_data("motif_benchmark", "5tpn.pdb"), "10-40/A163-181/10-40")
designs = BackboneGenerator.from_pretrained("backbones").design(1, [Length("50-75"), motif], seed=0)
print(len(mols), "molecules;", len(designs), "design with motif RMSD", designs[0].metadata["motif_rmsd"])
PY
echo "wheel smoke test passed"
