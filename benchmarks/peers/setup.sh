#!/usr/bin/env bash
# Create .venv-peers: scikit-dimension and DADApy with numpy<2, isolated from the project's
# .venv (which must keep numpy 2). Used only by benchmarks/estimators.py to time the peers.
#   bash benchmarks/peers/setup.sh            # create or reuse
#   PEERS_VENV=/some/where bash benchmarks/peers/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
VENV="${PEERS_VENV:-.venv-peers}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# numpy<2 first so that neither peer's resolver can pull numpy 2 in.
"$VENV/bin/python" -m pip install --quiet "numpy<2"
"$VENV/bin/python" -m pip install --quiet "numpy<2" scikit-dimension dadapy
"$VENV/bin/python" - <<'PY'
import numpy, skdim, dadapy
print(f"peers ready: numpy {numpy.__version__}, scikit-dimension "
      f"{getattr(skdim, '__version__', '?')}, dadapy {getattr(dadapy, '__version__', '?')}")
PY
