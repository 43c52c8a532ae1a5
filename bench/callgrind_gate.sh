#!/bin/bash
# The instruction-count gate (.ci/run): callgrind counts the instructions of
# one 64-token prefill and one decode step (forward + sampling) of small
# synthetic models (bench/cg_step.c), and this fails when any count rises more
# than 3% over the committed baseline, bench/callgrind_baseline.txt.
# Instruction counts are exact and repeatable where times on a shared machine
# are not (±40%), so a 3% rise is a real change in the work done.
#
#   bench/callgrind_gate.sh            check against the baseline (exit 1 on a rise)
#   bench/callgrind_gate.sh --update   rewrite the baseline (a slowdown on purpose,
#                                      or a speed-up to lock in); commit the file
#
# Counted on one thread with LMX_ISA=avx2: valgrind does not run AVX-512 code
# (it hides AVX-512 from CPUID), so the AVX-512 kernels are outside the gate;
# the AVX2 kernels, attention, norms, rope, sampling and the glue around them
# are inside it (LD_BIND_NOW: no lazy symbol binding counted in a region). Counts depend on the compiler: the baseline is for the gcc
# -O2 build in build/ on the CI machine (Debian's gcc).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LMX_SHARED:-$(cd .. && pwd)/shared}
BASE=bench/callgrind_baseline.txt
LIMIT_PCT=${LMX_CG_LIMIT_PCT:-3}
MODELS="llama-q4_0 llama-q8_0 llama-q4_k llama-q6_k llama-f16"

update=0
case "${1:-}" in
--update) update=1 ;;
"") ;;
*)
  echo "usage: bench/callgrind_gate.sh [--update]" >&2
  exit 2
  ;;
esac
command -v valgrind >/dev/null || { echo "callgrind gate: valgrind is not installed (scripts/install-deps.sh)" >&2; exit 1; }
make -s -j2 build/cg_step
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# One valgrind per model, two at a time (the counts do not depend on it).
for m in $MODELS; do echo "$SHARED/models/synth/$m.gguf"; done |
  LMX_ISA=avx2 LD_BIND_NOW=1 xargs -P 2 -I{} sh -c 'valgrind --tool=callgrind --collect-atstart=no \
      --callgrind-out-file="$1/cg.$(basename "$2").%p" build/cg_step "$2" >"$1/$(basename "$2").log" 2>&1 ||
      { cat "$1/$(basename "$2").log" >&2; exit 1; }' _ "$out" {}
# "label count" per dumped region, in model order.
now=$(for m in $MODELS; do
  for f in "$out"/cg."$m".gguf.*; do
    awk '/^desc: Trigger: Client Request: /{sub(/^desc: Trigger: Client Request: /, ""); l=$0}
         /^totals: /{if (l != "") print l " " $2}' "$f"
  done
done | sed 's/\.gguf / /' | awk '{print $1 "_" $2, $3}')
[ -n "$now" ] || { echo "callgrind gate: no counts collected" >&2; exit 1; }

if [ "$update" = 1 ]; then
  {
    echo "# Instruction counts (callgrind Ir) of bench/cg_step.c under LMX_ISA=avx2, one thread."
    echo "# Rewritten by: bench/callgrind_gate.sh --update   (checked by .ci/run)"
    echo "$now"
  } >"$BASE"
  echo "callgrind gate: baseline written to $BASE"
  cat "$BASE"
  exit 0
fi
[ -f "$BASE" ] || { echo "callgrind gate: no $BASE (bench/callgrind_gate.sh --update makes it)" >&2; exit 1; }
echo "$now" | awk -v lim="$LIMIT_PCT" -v base="$BASE" '
  BEGIN { while ((getline line < base) > 0) if (line !~ /^#/) { split(line, f, " "); b[f[1]] = f[2] } }
  {
    seen[$1] = 1
    if (!($1 in b)) { printf "%-22s %14s %14d   new (not in the baseline)\n", $1, "-", $2; bad = 1; next }
    pct = 100.0 * ($2 - b[$1]) / b[$1]
    flag = pct > lim ? "   FAIL: more than +" lim "%" : (pct < -lim ? "   (lower: --update to lock it in)" : "")
    printf "%-22s %14d %14d %+7.2f%%%s\n", $1, b[$1], $2, pct, flag
    if (pct > lim) bad = 1
  }
  END {
    for (k in b) if (!(k in seen)) { printf "%-22s missing from this run\n", k; bad = 1 }
    if (bad) {
      print "callgrind gate: FAILED. If the extra work is intended: bench/callgrind_gate.sh --update, and commit " base
      exit 1
    }
    print "callgrind gate: ok (limit +" lim "%)"
  }' | { printf "%-22s %14s %14s %8s\n" region baseline now change; cat; }
