#!/usr/bin/env bash
# One GPU stage of the two molecule models with bonds (issue 20): both train side by side on one GPU
# for MINUTES from their newest weights, then each is exported and scored on N samples (EDM's
# distance-rule protocol and the strict own-bond protocol). Run from the repository root:
#
#   MINUTES=7 N=10000 DEVICE=cuda bash examples/gpu_stage_molecules.sh
#   MINUTES=0.2 N=50 DEVICE=cpu bash examples/gpu_stage_molecules.sh      # the CPU rehearsal
#
# Needs molgen importable (on the device: `python3 -m pip install --no-index --find-links WHEELS
# rdkit biopython -e . --no-deps` from carried wheels; the device has no network) and QM9 with its
# bonds in $MOLGEN_CACHE_DIR/qm9_v2.npz (made here by `python -c "from molgen.datasets.qm9 import
# load_qm9; load_qm9()"`; carry it). Starting weights: HEAVY_INIT and EXPLICIT_INIT (model folders
# or bundled names; default the bundled models). Results land in $OUT (default runs/gpu_stage).
# PRECISION=bf16 trains under bfloat16 autocast (default fp32; measured on a CPU only so far:
# benchmarks/training_precision.py).
set -euo pipefail
minutes=${MINUTES:-7}; n=${N:-10000}; device=${DEVICE:-cuda}; out=${OUT:-runs/gpu_stage}
heavy_init=${HEAVY_INIT:-qm9-heavy-bonds}; explicit_init=${EXPLICIT_INIT:-qm9}
py=${PYTHON:-python3}; precision=${PRECISION:-fp32}
mkdir -p "$out"

train() {  # name, config, initial weights
  "$py" -m molgen.cli train molecules --data qm9 --out "$out/$1" --config "$2" --init-from "$3" \
    --device "$device" --max-minutes "$minutes" --precision "$precision" > "$out/$1_train.log" 2>&1
}
train heavy examples/qm9_heavy_bonds_train_gpu.yaml "$heavy_init" &
train explicit examples/qm9_bonds_train_gpu.yaml "$explicit_init" &
wait

for name in heavy explicit; do
  "$py" -m molgen.cli sample molecules --model "$out/$name/model" -n "$n" -o "$out/$name.sdf" --seed 0 \
    --device "$device" --batch-size 1000 > "$out/${name}_sample.log" 2>&1
  "$py" -m molgen.cli benchmark molecules "$out/$name.sdf" --bonds coordinates --json "$out/${name}_edm.json" \
    > "$out/${name}_edm.txt" 2>&1
  "$py" -m molgen.cli benchmark molecules "$out/$name.sdf" --json "$out/${name}_own.json" > "$out/${name}_own.txt" 2>&1
  grep -E "molecule stability|strict own-bond|connected validity" "$out/${name}_edm.txt" "$out/${name}_own.txt"
done
