#!/usr/bin/env bash
# The transformers backend's contract on a GPU, in bf16: for a lent GPU machine (the device
# tool), which has CUDA torch and transformers but not this project's other packages, and
# takes only 64 MiB of files along. The model is a tiny randomly initialised Llama written
# on the spot (tests/inference/tiny_model.py), so no weights travel; only the folder tests
# of tests/inference/test_transformers.py run (no Django, no conftest).
#
#   bash bench/gpu_contract.sh                     # on the GPU machine, from the repository root
#   TRANSFORMERS_TEST_DEVICE=cpu bash bench/gpu_contract.sh    # the same here, on the CPU
#
# Without pytest there: `pip install --target var/gpu-pytest pytest` here, carry var/gpu-pytest
# along and set PYTEST_DIR=var/gpu-pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH=".${PYTEST_DIR:+:$PYTEST_DIR}${PYTHONPATH:+:$PYTHONPATH}"
export TRANSFORMERS_TEST_DEVICE=${TRANSFORMERS_TEST_DEVICE:-cuda} HF_HUB_OFFLINE=1
"$PY" - <<'PYTHON'
import os

import torch
import transformers

print("torch", torch.__version__, "CUDA", torch.version.cuda, "transformers", transformers.__version__)
if os.environ["TRANSFORMERS_TEST_DEVICE"].startswith("cuda"):
    assert torch.cuda.is_available(), "no CUDA device"
    print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
PYTHON
exec "$PY" -m pytest tests/inference/test_transformers.py -k "folder or stop_cut" \
  --noconftest -p no:django -p no:cacheprovider -o addopts="" -q -rs "$@"
