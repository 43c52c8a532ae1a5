#!/bin/sh
# First command of the README: install what is missing, build, and start LMX
# on a small default model. Where no model is at hand (no network to Hugging
# Face, no ../shared/models), it says how to add one.
set -e
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make -j"$(nproc)"
model="${LMX_MODEL:-../shared/models/stories260K.gguf}"
if [ -f "$model" ]; then
  echo "lmx: built build/lmx; generating from $model:" >&2
  ./build/lmx run -m "$model" -p "Once upon a time" -n 64 --temp 0
  echo
else
  cat >&2 <<MSG
lmx: built build/lmx, but no model was found at $model.
  Download any GGUF model (for example a Q4_K_M file from Hugging Face) and run:
    ./build/lmx run -m /path/to/model.gguf -p "Hello"
  or set LMX_MODEL=/path/to/model.gguf and run this script again.
MSG
fi
