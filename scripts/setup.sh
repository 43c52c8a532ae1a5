#!/bin/sh
# First command of the README: install what is missing, build, and start the
# server (127.0.0.1:1234) on a small default model. Where no model is at hand
# (no network to Hugging Face, no ../shared/models), the server still starts
# and this says how to add a model.
set -e
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make -j"$(nproc)"
model="${LMX_MODEL:-../shared/models/stories260K.gguf}"
if [ -f "$model" ]; then
  echo "lmx: built build/lmx; serving $model on http://127.0.0.1:${LMX_PORT:-1234}/v1" >&2
  exec ./build/lmx serve -m "$model" --port "${LMX_PORT:-1234}"
fi
cat >&2 <<MSG
lmx: built build/lmx; no model found at $model, starting the server without one.
  Download any GGUF model (for example a Q4_K_M file from Hugging Face), then either
    LMX_MODEL=/path/to/model.gguf ./scripts/setup.sh
  or  ./build/lmx serve -m /path/to/model.gguf      (or: ./build/lmx run -m MODEL -p "Hello")
MSG
exec ./build/lmx serve --port "${LMX_PORT:-1234}"
