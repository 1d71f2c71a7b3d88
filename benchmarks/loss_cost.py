"""Time and memory of ChiWeightedLoss's H2 forms at a training batch.

    python benchmarks/loss_cost.py [--batch 32] [--keypoints 16]
        [--heatmap 64] [--windows 5 9 15] [--repeats 5]
        [--out benchmarks/results/loss_cost_cpu.md]

For ``h2_loss='nll'`` and ``h2_loss='mse'`` (each window size), on random H1,
targets, mu, sigma and a RealNVP2D flow at the MPII config's batch (B=32,
K=16, 64x64 heatmaps by default): the median time of the loss's forward +
backward, and the bytes autograd saves for the backward pass (summed over
the saved tensors: the memory the training step holds for the loss), with
the number of points that go through the flow. Prints a table and writes it
as markdown, and the raw numbers as JSON beside it.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from benchmark_utils.provenance import git_commit  # noqa: E402


def measure(loss, flow, inputs, repeats):
    """Median seconds of forward + backward, saved bytes, flow points."""
    points = []
    orig = flow.log_prob

    def counting(x):
        points.append(x.shape[:-1].numel())
        return orig(x)

    flow.log_prob = counting
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    times = []
    try:
        for i in range(repeats + 1):
            points.clear()
            saved.clear()
            leaves = [
                t.detach().requires_grad_(t.is_floating_point())
                for t in inputs
            ]
            t0 = time.perf_counter()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                total = loss(*leaves[:2], leaves[2], leaves[3], leaves[4],
                             leaves[5], flow)
            total.backward()
            if i:  # the first call warms up
                times.append(time.perf_counter() - t0)
    finally:
        flow.log_prob = orig
    return statistics.median(times), sum(saved), sum(points)


def main(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--keypoints', type=int, default=16)
    p.add_argument('--heatmap', type=int, default=64)
    p.add_argument('--windows', type=int, nargs='+', default=[5, 9, 15])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument(
        '--out', default=osp.join(HERE, 'results', 'loss_cost_cpu.md'))
    args = p.parse_args(argv)
    import sadinet_mmpose  # noqa: F401
    from mmpose.registry import MODELS

    B, K, S = args.batch, args.keypoints, args.heatmap
    g = torch.Generator().manual_seed(0)
    gt = 0.1 + 0.8 * torch.rand(B, K, 2, generator=g)
    xs = torch.arange(S, dtype=torch.float32)
    target = torch.exp(
        -((xs[None, None, None] - gt[..., :1, None] * S)**2 +
          (xs[None, None, :, None] - gt[..., 1:, None] * S)**2) / (2 * 2.0**2))
    inputs = [
        torch.rand(B, K, S, S, generator=g), target,
        gt + 0.02 * torch.randn(B, K, 2, generator=g),
        torch.full((B, K, 2), 0.05), gt,
        torch.ones(B, K)
    ]
    torch.manual_seed(0)
    flow = MODELS.build(dict(type='RealNVP2D'))
    rows = []
    settings = [('nll', None)] + [('mse', w) for w in args.windows]
    for h2_loss, window in settings:
        loss = MODELS.build(
            dict(
                type='ChiWeightedLoss',
                h2_loss=h2_loss,
                mse_window=window or 9))
        sec, saved, points = measure(loss, flow, inputs, args.repeats)
        rows.append(
            dict(
                h2_loss=h2_loss,
                window=window,
                ms=sec * 1e3,
                saved_mb=saved / 2**20,
                flow_points=points))
    dense = B * K * S * S
    cmd = 'python benchmarks/loss_cost.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    lines = [
        '# ChiWeightedLoss: time and memory of the H2 forms', '',
        f'`{cmd}` at commit {git_commit()} on {os.cpu_count()} CPU '
        f'cores ({platform.machine()}, '
        f'torch {torch.__version__}, {torch.get_num_threads()} threads); '
        f'B={B}, K={K}, {S}x{S} heatmaps (the MPII config trains at '
        'B=32, K=16, 64x64), '
        'float32; the loss alone (H1 MSE, H2, chi weighting), forward + '
        f'backward, median of {args.repeats}. "Saved" is what autograd '
        'keeps for the backward pass. The flow always also sees the '
        'fixed Gauss-Hermite nodes of its moments (1,024 points).', '',
        '| H2 form | window | ms (fwd + bwd) | saved MB | points through '
        'the flow |', '| --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        lines.append(f"| {r['h2_loss']} | {r['window'] or '-'} | "
                     f"{r['ms']:.0f} | {r['saved_mb']:.1f} | "
                     f"{r['flow_points']:,} |")
    lines += [
        '', f'Rendering H2 on the whole heatmap with gradients would put '
        f'{dense:,} points (B*K*H*W) through the flow.'
    ]
    text = '\n'.join(lines) + '\n'
    print(text)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(
            dict(command=cmd, rows=rows, dense_points=dense), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
