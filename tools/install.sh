#!/usr/bin/env bash
# Installs mmhybrid and the OpenMMLab 2.x stack it is tested on into the current Python.
#
#   bash tools/install.sh
#
# Steps (each skipped when already satisfied, so a second run takes minutes):
#   1. torch + torchvision (kept if already importable, e.g. a CUDA build of your own);
#   2. mmengine, mmdet, mmsegmentation, mmpretrain, pycocotools and the test tools;
#   3. mmcv 2.1.0 with compiled ops (CUDA ops on a GPU machine), built from source
#      against that torch and cached as a wheel under $MMHYBRID_CACHE (default
#      ~/.cache/mmhybrid), in a folder named by Python, torch, CUDA and GPU archs;
#   4. mmhybrid itself, editable.
#
# Environment:
#   PYTHON              interpreter to install into (default: python3).
#   MMHYBRID_CACHE      where built mmcv wheels are kept (default: ~/.cache/mmhybrid).
#   MMCV_WITH_CUDA=1    build mmcv's CUDA ops without a visible GPU (default: CUDA ops
#                       exactly when torch sees a GPU; =0 asks for CPU ops there).
#   TORCH_CUDA_ARCH_LIST  GPU archs to compile for (default: the visible GPUs', else
#                       "7.5;8.0;8.6;8.9;9.0+PTX", see tools/misc/cuda_toolkit.py).
#   MMHYBRID_CUDA_TOOLKIT  auto (default): a system nvcc if it is torch's CUDA release,
#                       else NVIDIA's nvcc wheels from the package index; or system, pip.
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
# CUDA ops when torch sees a GPU (or MMCV_WITH_CUDA=1); MMCV_WITH_CUDA=0 asks for
# CPU ops explicitly. The check runs nms and RoIAlign, on CUDA tensors too
# whenever a GPU is visible; ops without CUDA on a GPU machine are an error.
want_cuda=$("$PY" -c 'import os, torch
flag = os.environ.get("MMCV_WITH_CUDA", "")
print(int(flag == "1" or (flag != "0" and torch.cuda.is_available())))')
if [[ $want_cuda == 1 ]] && ! "$PY" -c 'import sys, torch; sys.exit(torch.version.cuda is None)'; then
  echo "CUDA ops asked for, but torch $("$PY" -c 'import torch; print(torch.__version__)')" \
       "is a CPU build: install a CUDA build of torch first (or MMCV_WITH_CUDA=0)" >&2
  exit 1
fi

mmcv_check() {  # mmcv_check [verbose]: status 0 when mmcv and its ops are right
  local err=/dev/null
  [[ ${1:-} == verbose ]] && err=/dev/stderr
  WANT_CUDA=$want_cuda "$PY" - <<EOF 2>"$err"
import os, sys
import torch
import mmcv, mmcv.ops
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
if mmcv.__version__ != '$MMCV_VERSION':
    sys.exit(f'mmcv {mmcv.__version__} installed, $MMCV_VERSION wanted')
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
scores = torch.tensor([0.9, 0.8, 0.7])
feats = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16)
rois = torch.tensor([[0., 1., 1., 9., 9.], [1., 2.5, 0., 15., 7.5]])
roi_align = RoIAlign((4, 4), spatial_scale=1., sampling_ratio=2, aligned=True)
ref = (nms(boxes, scores, 0.5)[1], roi_align(feats, rois))
if os.environ['WANT_CUDA'] == '1':
    built = get_compiling_cuda_version()
    if built != torch.version.cuda:
        sys.exit(f'mmcv ops compiled for CUDA {built!r}, torch has CUDA '
                 f'{torch.version.cuda}: ops without CUDA fail in the first '
                 'RoIAlign/NMS on the GPU ("not compiled with GPU support")')
    if torch.cuda.is_available():
        out = (nms(boxes.cuda(), scores.cuda(), 0.5)[1].cpu(),
               roi_align(feats.cuda(), rois.cuda()).cpu())
        if not torch.equal(out[0], ref[0]) or \
                not torch.allclose(out[1], ref[1], atol=1e-3):
            sys.exit(f'mmcv CUDA ops disagree with its CPU ops: {out} vs {ref}')
        print(f'mmcv CUDA ops (nms, RoIAlign) OK on '
              f'{torch.cuda.get_device_name()}, CUDA {built}', file=sys.stderr)
EOF
}

# The CUDA compiler: a system nvcc (CUDA_HOME's, else the one on PATH) only if it
# is torch's CUDA release; otherwise NVIDIA's nvcc wheels of that release, pip-
# installed into this Python (MMHYBRID_CUDA_TOOLKIT=system|pip forces a choice).
# Prints the toolkit folder, nothing for the wheels.
pick_cuda_toolkit() {
  local want nvcc have choice=${MMHYBRID_CUDA_TOOLKIT:-auto}
  want=$("$PY" -c 'import torch; print(torch.version.cuda)')
  if [[ $choice != pip ]]; then
    for nvcc in ${CUDA_HOME:+"$CUDA_HOME/bin/nvcc"} "$(command -v nvcc || true)"; do
      [[ -x $nvcc ]] || continue
      have=$("$PY" "$ROOT/tools/misc/cuda_toolkit.py" nvcc-version "$nvcc")
      if [[ $have == "$want" ]]; then
        log "using $nvcc (CUDA $have)" >&2
        dirname "$(dirname "$(readlink -f "$nvcc")")"
        return
      fi
      log "not using $nvcc: CUDA ${have:-?}, torch has CUDA $want" >&2
    done
    if [[ $choice == system ]]; then
      echo "MMHYBRID_CUDA_TOOLKIT=system: no nvcc of CUDA $want found" >&2
      exit 1
    fi
  fi
  local major=${want%%.*} pkgs
  if ((major >= 13)); then
    pkgs=("nvidia-cuda-nvcc==$want.*" "nvidia-cuda-crt==$want.*"
          "nvidia-nvvm==$want.*" "nvidia-cuda-cccl==$want.*")
  else
    pkgs=("nvidia-cuda-nvcc-cu$major==$want.*" "nvidia-cuda-cccl-cu$major==$want.*")
  fi
  log "installing NVIDIA's CUDA $want compiler wheels: ${pkgs[*]}" >&2
  "${PIP[@]}" -q "${pkgs[@]}" >&2
}

if mmcv_check; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  tag=$("$PY" -c 'import sys, torch
print(f"cp{sys.version_info.major}{sys.version_info.minor}-torch"
      + torch.__version__.replace("+", "_"))')
  if [[ $want_cuda == 1 ]]; then
    TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$("$PY" "$ROOT/tools/misc/cuda_toolkit.py" arch-list)}
    export TORCH_CUDA_ARCH_LIST
    tag+="-cuda$("$PY" -c 'import torch; print(torch.version.cuda)')"
    tag+="-arch$(tr ' ;' '__' <<<"$TORCH_CUDA_ARCH_LIST")"
  else
    tag+="-cpu"
  fi
  wheel_dir="$CACHE/mmcv-$MMCV_VERSION-$tag"
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if [[ $want_cuda == 1 ]]; then
      toolkit=$(pick_cuda_toolkit)
      # one CUDA_HOME: that compiler plus the CUDA headers and libraries of
      # torch's wheels (cublas_v2.h, ..., libcudart)
      CUDA_HOME=$("$PY" "$ROOT/tools/misc/cuda_toolkit.py" home "$work/cuda" $toolkit)
      export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH" FORCE_CUDA=1
    fi
    log "building mmcv $MMCV_VERSION with ops for $tag (CPU ops: about 11 min on 2 cores;" \
        "CUDA ops: far longer, see README; cached in $wheel_dir)"
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
      --no-build-isolation -d "$work" "mmcv==$MMCV_VERSION"
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
    export MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
    mkdir -p "$wheel_dir"
    "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation \
      -w "$wheel_dir" "$work/mmcv-$MMCV_VERSION"
  fi
  log "installing mmcv from $wheel_dir"
  "${PIP[@]}" --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl
  # mmcv's own runtime requirements (mmengine came with the stack).
  "${PIP[@]}" -q addict numpy opencv-python packaging Pillow pyyaml yapf
  mmcv_check verbose || { echo "mmcv ops failed the check after install (above)" >&2; exit 1; }
fi

# --- 4. mmhybrid ---------------------------------------------------------------
log "installing mmhybrid (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$PY" -m mmhybrid.utils.collect_env
