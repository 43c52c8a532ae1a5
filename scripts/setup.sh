#!/bin/sh
# First command of the README: install what is missing, build, and start the
# server (127.0.0.1:1234) on a small default model:
#   - $LMX_MODEL or ../shared/models/stories260K.gguf when present;
#   - else the daemon starts with an empty store and pulls a small model from
#     Hugging Face ($LMX_DEFAULT_MODEL, default Qwen2.5 0.5B Instruct Q4_K_M)
#     into ~/.lmx/models, where requests naming it load it on demand;
#   - where Hugging Face cannot be reached, the server keeps running without a
#     model and this says how to add one.
set -e
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make -j"$(nproc)"
port="${LMX_PORT:-1234}"
model="${LMX_MODEL:-../shared/models/stories260K.gguf}"
if [ -f "$model" ]; then
  echo "lmx: built build/lmx; serving $model on http://127.0.0.1:$port/v1" >&2
  exec ./build/lmx serve -m "$model" --port "$port"
fi
# LMX_MODEL named a file that is not there: the daemon must not read it as its own setting
env -u LMX_MODEL ./build/lmx serve --port "$port" &
pid=$!
trap 'kill $pid 2>/dev/null' INT TERM
i=0  # wait until it answers
while ! ./build/lmx status --port "$port" >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
default="${LMX_DEFAULT_MODEL:-Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M}"
if ./build/lmx pull --port "$port" "$default"; then
  echo "lmx: serving on http://127.0.0.1:$port/v1; model '$default' is in the store (lmx ls)" >&2
else
  cat >&2 <<MSG
lmx: built build/lmx; the server runs on http://127.0.0.1:$port/v1 without a model
  (no local model at $model, and '$default' could not be pulled from Hugging Face).
  Add one with any of:
    ./build/lmx pull ORG/REPO:Q4_K_M                  (from Hugging Face, with this server running)
    cp model.gguf ~/.lmx/models/                     (listed as 'model', loaded on first request)
    LMX_MODEL=/path/to/model.gguf ./scripts/setup.sh
MSG
fi
wait $pid
