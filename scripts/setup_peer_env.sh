#!/usr/bin/env bash
# Create the git-ignored peer environment `.venv-mace` used by scripts/bench_md.py
# to run mace-torch side by side with molsym.
#
#   bash scripts/setup_peer_env.sh            # creates ./.venv-mace
#   PEER_VENV=/some/where bash scripts/setup_peer_env.sh
#
# The CPU build of torch is installed first (same version as molsym's .venv),
# so mace-torch's dependencies cannot pull a different torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
VENV="${PEER_VENV:-.venv-mace}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==${TORCH_VERSION}"
"$VENV/bin/python" -m pip install -q mace-torch
"$VENV/bin/python" - <<'PY'
import torch, mace
print("peer env ready: torch", torch.__version__, "| mace-torch", getattr(mace, "__version__", "?"))
PY
