#!/usr/bin/env bash
# One GPU stage of the pair-aware backbone model (issue 21): grow it from INIT (default the bundled
# `backbones`) for MINUTES, then score it: the low-noise strand test on held-out chains, N
# unconditional designs of 60-128 residues through `molgen benchmark backbones` (strand, helix,
# sheets), and strand pairing from a template. Run from the repository root:
#
#   MINUTES=8 N=100 DEVICE=cuda bash examples/gpu_stage_backbones.sh
#   MINUTES=0.2 N=4 DEVICE=cpu bash examples/gpu_stage_backbones.sh      # the CPU rehearsal
#
# CONFIG picks the training config (default examples/backbones_pair_train_gpu.yaml; the pair-track
# design: examples/backbones_pair_track_train_gpu.yaml; the mid-noise recipe:
# examples/backbones_mid_noise_train_gpu.yaml). PRECISION=bf16 trains under bfloat16
# autocast (default fp32; measured on a CPU only so far: benchmarks/training_precision.py).
# Needs molgen importable (on the device: carried wheels for biopython, pydssp, tmtools; see
# examples/gpu_stage_molecules.sh). Results land in $OUT (default runs/gpu_backbones).
set -euo pipefail
minutes=${MINUTES:-8}; n=${N:-100}; device=${DEVICE:-cuda}; out=${OUT:-runs/gpu_backbones}
init=${INIT:-backbones}; py=${PYTHON:-python3}; config=${CONFIG:-examples/backbones_pair_train_gpu.yaml}
precision=${PRECISION:-fp32}
mkdir -p "$out"
"$py" -m molgen.cli train backbones --data pdb-chains --out "$out/run" --init-from "$init" \
  --config "$config" --device "$device" --max-minutes "$minutes" --precision "$precision" > "$out/train.log" 2>&1
model="$(cd "$out/run/model" && pwd)"
"$py" benchmarks/backbone_low_noise.py --model "$model" --noise 0.4 0.85 1.6 3.3 6 12 | tee "$out/low_noise.md"
"$py" -m molgen.cli sample backbones --model "$model" --length 60-128 -n "$n" --seed 0 --device "$device" \
  --out "$out/designs" --overwrite > "$out/sample.log" 2>&1
"$py" -m molgen.cli benchmark backbones "$out/designs" --novelty-reference 0 --json "$out/designs.json" \
  | grep -E "strand|helix|sheet|clash|geometry" | tee "$out/designs.md"
"$py" -m molgen.cli sample backbones --model "$model" --ss-from data/heldout_chains/1qjg_A.pdb --guidance 2 \
  -n "$((n < 16 ? n : 16))" --seed 0 --device "$device" --out "$out/templated" --overwrite 2>&1 | tail -3
