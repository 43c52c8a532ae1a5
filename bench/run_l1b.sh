#!/bin/bash
# Builds the four 1B-parameter Llama-3.2-1B-shaped synthetic models of
# ../shared/refs/README.md (once, into bench/models/) and runs `lmx bench` on
# each: prefill and decode tok/s and the fraction of the measured memory
# bandwidth that decode reaches. Prints a markdown table.
#   bench/run_l1b.sh [-p 512] [-n 128] [-t THREADS] [-r REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LMX_SHARED:-../shared}
OUT=bench/models
mkdir -p "$OUT"
V=$SHARED/vocab/ggml-vocab-llama-bpe.gguf
SHAPE="--arch llama --vocab-from $V --n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 \
  --n-ff 8192 --ctx 131072 --rope-base 500000 --output-type tied --seed 7"
declare -A TYPES=(
  [l1b-q4_0]="--type q4_0 --embd-type q8_0"
  [l1b-q8_0]="--type q8_0"
  [l1b-q4_k_m]="--type q4_k --vd-type q6_k --embd-type q6_k"
  [l1b-f16]="--type f16"
)
for m in l1b-q4_0 l1b-q8_0 l1b-q4_k_m l1b-f16; do
  [ -s "$OUT/$m.gguf" ] || { echo "building $OUT/$m.gguf" >&2; python3 "$SHARED/tools/synth_gguf.py" "$OUT/$m.gguf" $SHAPE ${TYPES[$m]} >&2; }
done
make -s build/lmx
echo "| model | weights | prefill tok/s | decode tok/s | bandwidth GB/s | decode / roofline |"
echo "|---|---|---|---|---|---|"
for m in l1b-q4_0 l1b-q8_0 l1b-q4_k_m l1b-f16; do
  j=$(build/lmx bench -m "$OUT/$m.gguf" --json "$@" 2>/dev/null)
  python3 - "$m" "$j" <<'PY'
import json, sys
m, j = sys.argv[1], json.loads(sys.argv[2])
print(f"| {m} | {j['weight_gib']:.2f} GiB | {j['prefill_tok_s']:.1f} | {j['decode_tok_s']:.1f} | "
      f"{j['bandwidth_gbs']:.1f} | {100 * j['bandwidth_fraction']:.0f}% |")
PY
done
