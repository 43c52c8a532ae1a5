#!/bin/sh
# Builds a small seed corpus for the GGUF fuzzer in $1: tiny synthetic models
# of each architecture and several types (made by ../shared/tools/synth_gguf.py)
# a header prefix of the real stories260K, and the 70 hostile files of
# tests/e2e/hostile_gguf.py (truncations, absurd counts, bad types and
# offsets, empty vocabularies, zero heads, NaN epsilon, hostile templates).
set -e
out=${1:-build-fuzz/corpus-gguf}
shared=${LMX_SHARED:-../shared}
mkdir -p "$out"
for arch in llama qwen2 qwen3; do
  for t in f32 f16 q8_0 q4_0; do
    python3 "$shared/tools/synth_gguf.py" "$out/$arch-$t.gguf" --arch $arch --type $t \
      --n-embd 32 --n-layer 1 --n-head 2 --n-head-kv 1 --n-ff 64 --seed 1 >/dev/null
  done
done
head -c 8192 "$shared/models/stories260K.gguf" > "$out/stories-head.gguf"
LMX_SHARED="$shared" python3 "$(dirname "$0")/../tests/e2e/hostile_gguf.py" "$out" >/dev/null
