#!/bin/bash
# Speculative decoding's bounds (docs/speculative.md) on the 1B Q4_0 synthetic
# model of bench/run_l1b.sh: greedy decode of one sequence through the
# scheduler (lmx bench --spec), interleaved rounds of
#   off                        the baseline
#   draft = the model itself   the upper bound: every draft is kept
#   draft = a small model      same vocabulary, other weights: nothing is kept;
#                              with auto-off, and forced on (--spec-force)
#   lookup                     n-grams of random text: little is kept; auto-off, forced
# The small draft (2 layers, n_embd 512, the model's vocabulary) is made once
# into bench/models/ with ../shared/tools/synth_gguf.py.
#   bench/spec_bench.sh [-p 32] [-n 48] [-t 2] [rounds (default 2)]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LMX_SHARED:-../shared}
MODEL=${LMX_L1B:-bench/models/l1b-q4_0.gguf}
DRAFT=bench/models/l1b-draft-q4_0.gguf
P=32 N=48 T=2
while getopts "p:n:t:" o; do
  case $o in p) P=$OPTARG ;; n) N=$OPTARG ;; t) T=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
ROUNDS=${1:-2}
[ -s "$MODEL" ] || { echo "spec_bench: $MODEL missing (bench/run_l1b.sh builds it, or set LMX_L1B)" >&2; exit 1; }
mkdir -p bench/models
[ -s "$DRAFT" ] || python3 "$SHARED/tools/synth_gguf.py" "$DRAFT" --arch llama --vocab-from "$MODEL" \
  --n-embd 512 --n-layer 2 --n-head 8 --n-head-kv 4 --n-ff 1536 --ctx 131072 --rope-base 500000 \
  --output-type tied --type q4_0 --embd-type q8_0 --seed 9 >&2
make -s build/lmx
declare -A ARGS=(
  [off]="--spec off"
  [draft=model]="--spec draft --draft-model $MODEL"
  [draft=small]="--spec draft --draft-model $DRAFT"
  [draft=small,forced]="--spec draft --draft-model $DRAFT --spec-force"
  [lookup]="--spec lookup"
  [lookup,forced]="--spec lookup --spec-force"
)
ORDER="off draft=model draft=small draft=small,forced lookup lookup,forced"
declare -A RES
for r in $(seq "$ROUNDS"); do
  for c in $ORDER; do
    j=$(build/lmx bench -m "$MODEL" -p "$P" -n "$N" -t "$T" ${ARGS[$c]} --json 2>/dev/null)
    RES[$c]+="$j"$'\n'
    echo "round $r $c: $j" >&2
  done
done
echo "| config | decode tok/s (per round) | drafted / kept (last) |"
echo "|---|---|---|"
for c in $ORDER; do
  printf '%s' "${RES[$c]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
v = " / ".join("%.1f" % r["decode_tok_s"] for r in rows)
print("| %s | %s | %d / %d |" % (sys.argv[1], v, rows[-1]["drafted"], rows[-1]["accepted"]))' "$c"
done
