"""The zoo's two figures: forward+backward time at 224 against MACs (with
the time at the measured matmul peak), and peak memory against pixels on
log-log axes (with linear and quadratic guides)."""
import os.path as osp
import statistics
import sys
from typing import Dict, List

from ..flops import FWD_BWD_FACTOR, macs_to_flops
from .models import size_label


def plot(rows: List[Dict], raw: Dict, out_dir: str) -> List[str]:
    """The two figures; returns the files written (none without
    matplotlib)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no plots', file=sys.stderr)
        return []
    families = sorted({r['type'] for r in rows if not r['baseline']})
    cmap = plt.get_cmap('tab10')
    colour = {f: cmap(i % 10) for i, f in enumerate(families)}
    # one colour per family (baselines black), one marker/line per variant
    markers, lines = 'o^vDPX', ['-', '--', '-.', (0, (1, 1))]
    seen: Dict[str, int] = {}
    styles = {}
    for r in rows:
        family = 'baseline' if r['baseline'] else r['type']
        i = seen[family] = seen.get(family, -1) + 1
        styles[r['model']] = dict(
            color='black' if r['baseline'] else colour[r['type']],
            marker='sDP*'[i % 4] if r['baseline'] else markers[i % 6],
            ls=':' if r['baseline'] else lines[i % 4])

    def style(r):
        return styles[r['model']]

    files = []
    # fwd+bwd time at 224 vs MACs
    t = raw['tasks_224'][1]
    tcol = f'time_{t.mode}_{"x".join(map(str, t.shape))}_s'
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = []
    for r in rows:
        x, y = r['gmacs_224'], r[tcol]
        if isinstance(x, float) and isinstance(y, float):
            st = style(r)
            ax.scatter([x], [y], s=36, color=st['color'], marker=st['marker'])
            ax.annotate(r['model'], (x, y), textcoords='offset points',
                        xytext=(4, 4), fontsize=8)
            xs.append(x)
    if xs:
        peak = raw['matmul_peak_flops']
        grid = [0, max(xs) * 1.1]
        ax.plot(grid, [macs_to_flops(g * 1e9 * FWD_BWD_FACTOR * t.shape[0])
                       / peak for g in grid], '--', color='grey', lw=1,
                label='at the measured matmul peak')
        ax.legend(loc='upper left', fontsize=8)
    ax.set_xlabel('GMACs at 224x224 (the papers\' "FLOPs")')
    ax.set_ylabel(f'forward+backward time, {t.shape[0]}x3x224x224 (s)')
    ax.set_title(f'Training step time vs MACs ({raw["device"]})')
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=.3)
    fig.tight_layout()
    path = osp.join(out_dir, 'zoo_speed_vs_macs.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)

    # peak memory vs pixels, log-log
    fig, ax = plt.subplots(figsize=(8, 5.5))
    sizes = raw['sizes']
    anchors = []
    for r in rows:
        pts = [(h * w, r[f'mem_fwd-bwd_1x3x{size_label((h, w))}_mib'])
               for h, w in sizes]
        pts = [(p, v) for p, v in pts if isinstance(v, (int, float)) and v]
        if not pts:
            continue
        ax.plot([p for p, _ in pts], [v for _, v in pts], lw=1.2, ms=4,
                label=r['model'], **style(r))
        anchors.append(pts[0])
    if anchors and len(sizes) > 1:
        p0 = min(h * w for h, w in sizes)
        p1 = max(h * w for h, w in sizes)
        v0 = statistics.median(v for p, v in anchors if p == p0) \
            if any(p == p0 for p, _ in anchors) else anchors[0][1]
        for k, lbl in ((1, 'linear'), (2, 'quadratic')):
            ax.plot([p0, p1], [v0, v0 * (p1 / p0)**k], color='grey', lw=.8,
                    ls='--')
            ax.annotate(lbl, (p1, v0 * (p1 / p0)**k), fontsize=8,
                        color='grey', textcoords='offset points',
                        xytext=(3, 0))
    ax.set_xscale('log')
    ax.set_yscale('log')
    pixels = sorted({h * w for h, w in sizes})
    ax.set_xticks(pixels, [f'{p / 1e6:.2f}M' for p in pixels], rotation=45)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel('pixels (H x W), batch 1')
    ax.set_ylabel('peak memory of forward+backward (MiB)')
    ax.set_title('Memory growth with the image '
                 f'({", ".join(size_label(s) for s in sizes)})')
    ax.grid(alpha=.3, which='both')
    ax.legend(fontsize=7, ncol=2, loc='upper left')
    fig.tight_layout()
    path = osp.join(out_dir, 'zoo_memory_vs_pixels.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)
    return files
