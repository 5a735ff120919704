#!/usr/bin/env bash
# Installs mmhybrid and the OpenMMLab 2.x stack it is tested on into the current Python.
#
#   bash tools/install.sh
#
# Steps (each skipped when already satisfied, so a second run takes minutes):
#   1. torch + torchvision (kept if already importable, e.g. a CUDA build of your own);
#   2. mmengine, mmdet, mmsegmentation, mmpretrain, pycocotools and the test tools;
#   3. mmcv 2.1.0 with compiled ops, built from source against that torch and cached
#      as a wheel under $MMHYBRID_CACHE (default ~/.cache/mmhybrid);
#   4. mmhybrid itself, editable.
#
# Environment:
#   PYTHON              interpreter to install into (default: python3).
#   MMHYBRID_CACHE      where built mmcv wheels are kept (default: ~/.cache/mmhybrid).
#   MMCV_WITH_CUDA=1    force CUDA ops (default: only when torch sees a GPU and nvcc exists).
#   MAX_JOBS            parallel compile jobs for mmcv (default: number of cores).
set -euo pipefail

PY=${PYTHON:-python3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MMHYBRID_CACHE:-$HOME/.cache/mmhybrid}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
MMCV_VERSION=2.1.0
PIP=("$PY" -m pip install --disable-pip-version-check)

log() { printf '\n[mmhybrid install] %s\n' "$*"; }

# --- 1. torch -------------------------------------------------------------------
if "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  log "keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  log "installing $TORCH_SPEC"
  # shellcheck disable=SC2086
  "${PIP[@]}" $TORCH_SPEC
fi

# --- 2. the rest of the stack -------------------------------------------------
# mmengine, mmdet, mmseg, mmpretrain (none of them installs mmcv), pycocotools,
# setuptools<81 (still ships pkg_resources, which mmcv's setup.py and
# mmengine's `mmdet::` config lookup import) and the test tools.
log "installing the OpenMMLab stack and test tools"
"${PIP[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" -q wheel ninja packaging  # to build mmcv

# --- 3. mmcv with ops -------------------------------------------------------------
mmcv_ok() {
  "$PY" - <<EOF 2>/dev/null
import mmcv, mmcv.ops, torch
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
from mmcv.ops import nms, RoIAlign
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
EOF
}

if mmcv_ok; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  tag=$("$PY" - <<'EOF'
import os, shutil, sys, torch
cuda = os.environ.get('MMCV_WITH_CUDA') == '1' or (
    torch.cuda.is_available() and torch.version.cuda is not None
    and shutil.which('nvcc') is not None)
py = f'cp{sys.version_info.major}{sys.version_info.minor}'
print(f"{py}-torch{torch.__version__.replace('+', '_')}-{'cuda' if cuda else 'cpu'}")
EOF
)
  wheel_dir="$CACHE/mmcv-$MMCV_VERSION-$tag"
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops for $tag (about 11 min on 2 cores; cached in $wheel_dir)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
      --no-build-isolation -d "$work" "mmcv==$MMCV_VERSION"
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
    export MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
    if [[ $tag == *-cuda ]]; then export FORCE_CUDA=1; fi
    mkdir -p "$wheel_dir"
    "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation \
      -w "$wheel_dir" "$work/mmcv-$MMCV_VERSION"
  fi
  log "installing mmcv from $wheel_dir"
  "${PIP[@]}" --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl
  # mmcv's own runtime requirements (mmengine came with the stack).
  "${PIP[@]}" -q addict numpy opencv-python packaging Pillow pyyaml yapf
  mmcv_ok || { echo "mmcv ops failed to load after install" >&2; exit 1; }
fi

# --- 4. mmhybrid ---------------------------------------------------------------
log "installing mmhybrid (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$PY" -m mmhybrid.utils.collect_env
