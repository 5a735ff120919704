"""CUDA build helpers for ``tools/install.sh`` (standard library + torch).

    python tools/misc/cuda_toolkit.py arch-list
        TORCH_CUDA_ARCH_LIST for mmcv's CUDA ops: the visible GPUs'
        compute capabilities, else DEFAULT_ARCH_LIST.
    python tools/misc/cuda_toolkit.py nvcc-version NVCC
        The CUDA release of an nvcc ("13.0"), empty if it does not run.
    python tools/misc/cuda_toolkit.py home DST [TOOLKIT]
        Assemble a CUDA_HOME in DST (symlinks) for torch's extension build:
        bin/ and nvvm/ of TOOLKIT (a CUDA install, e.g. /usr/local/cuda) or,
        without it, of the pip ``nvidia-cuda-nvcc`` wheel; include/ and lib64/
        merged from TOOLKIT and every NVIDIA wheel of this Python (torch's
        CUDA wheels bring cublas_v2.h, cusparse.h, ... which a toolkit
        assembled from nvcc alone lacks), TOOLKIT first; unversioned
        ``libX.so`` links added where the wheels ship only ``libX.so.N``
        (the link step asks for ``-lcudart``).

The wheels: CUDA 13 ones install into ``site-packages/nvidia/cu13/``,
CUDA 12 ones into ``site-packages/nvidia/<component>/``.
"""
import os
import os.path as osp
import re
import subprocess
import sys

#: Without a visible GPU: Turing, Ampere (A100, RTX 30), Ada (L4, RTX 40),
#: Hopper (H100/H200), and PTX for newer GPUs (JIT-compiled on first use).
#: Every entry adds about the time of one more build.
DEFAULT_ARCH_LIST = '7.5;8.0;8.6;8.9;9.0+PTX'


def arch_list() -> str:
    import torch
    caps = sorted({torch.cuda.get_device_capability(i)
                   for i in range(torch.cuda.device_count())}) \
        if torch.cuda.is_available() else []
    return ';'.join(f'{a}.{b}' for a, b in caps) or DEFAULT_ARCH_LIST


def nvcc_version(nvcc: str) -> str:
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ''
    found = re.search(r'release (\d+\.\d+)', out)
    return found.group(1) if found else ''


def wheel_roots(major: str) -> list:
    """Directories of this Python's NVIDIA wheels that hold bin/, include/,
    lib/ or nvvm/, in sys.path order."""
    roots = []
    for entry in sys.path:
        base = osp.join(entry or '.', 'nvidia')
        if not osp.isdir(base):
            continue
        if osp.isdir(osp.join(base, f'cu{major}')):
            candidates = [osp.join(base, f'cu{major}')]
        else:  # CUDA 12 layout: one folder per component
            candidates = [osp.join(base, d) for d in sorted(os.listdir(base))
                          if not (d.startswith('cu') and d[2:].isdigit())]
        for d in candidates:
            d = osp.realpath(d)
            if d not in roots and any(osp.isdir(osp.join(d, s)) for s in (
                    'bin', 'include', 'lib', 'nvvm')):
                roots.append(d)
    return roots


def merge(src: str, dst: str) -> None:
    """Link ``src`` at ``dst``; where both are folders, merge them (what is
    already at ``dst`` wins)."""
    if not osp.lexists(dst):
        os.symlink(src, dst)
    elif osp.isdir(src) and osp.isdir(dst):
        if osp.islink(dst):
            first = os.readlink(dst)
            os.unlink(dst)
            os.mkdir(dst)
            for name in os.listdir(first):
                merge(osp.join(first, name), osp.join(dst, name))
        for name in os.listdir(src):
            merge(osp.join(src, name), osp.join(dst, name))


def assemble_home(dst: str, toolkit: str = '') -> str:
    import torch
    major = torch.version.cuda.split('.')[0]
    roots = wheel_roots(major)
    if toolkit:
        roots.insert(0, osp.realpath(toolkit))
    with_nvcc = [r for r in roots if osp.isfile(osp.join(r, 'bin', 'nvcc'))]
    if not with_nvcc:
        raise SystemExit('no nvcc: neither a CUDA toolkit nor the '
                         'nvidia-cuda-nvcc wheel was found')
    os.makedirs(dst)
    # nvcc finds cicc, ptxas and its own headers relative to its real path
    for sub in ('bin', 'nvvm'):
        if osp.isdir(osp.join(with_nvcc[0], sub)):
            os.symlink(osp.join(with_nvcc[0], sub), osp.join(dst, sub))
    for root in roots:
        for sub, to in (('include', 'include'), ('lib64', 'lib64'),
                        ('lib', 'lib64')):
            if osp.isdir(osp.join(root, sub)):
                merge(osp.join(root, sub), osp.join(dst, to))
    lib = osp.join(dst, 'lib64')
    for name in os.listdir(lib) if osp.isdir(lib) else []:
        base, sep, _ = name.partition('.so.')
        if sep and not osp.lexists(osp.join(lib, base + '.so')):
            os.symlink(name, osp.join(lib, base + '.so'))
    return dst


def main(argv):
    cmd = argv[0] if argv else ''
    if cmd == 'arch-list':
        print(arch_list())
    elif cmd == 'nvcc-version' and len(argv) == 2:
        print(nvcc_version(argv[1]))
    elif cmd == 'home' and len(argv) in (2, 3):
        print(assemble_home(*argv[1:]))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
