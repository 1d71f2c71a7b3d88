"""Profile training steps (or inference calls) of configs: where time goes.

Builds each config's model as ``benchmarks/benchmark.py`` does (random inputs,
targets from the config's codec, the same training step and modes), runs a
few warm-up steps, then records ``--steps`` steps with ``torch.profiler``.
Prints and writes, per config:

- the time per step (between two synchronisations, without and with the
  profiler) and the PyTorch operations called per step (launch overhead at
  small batch); on a GPU, the device's busy share of a step,
- device time by category (convolution, its layout conversions, norms,
  element-wise, resizing, copies, reductions, GEMM, other): what the
  extra modules of a model cost beyond their FLOPs,
- the ``--rows`` kernels and operators with the most self device time,
- with ``--parts`` (training), the operations of one step by part:
  backbone, neck, head + loss (forward and backward each), optimizer.

Examples::

    # one H100: SADI-Net and Hourglass-52, fp32 training, 3 steps
    python benchmarks/profile_step.py --device cuda --mode fp32
    # inference at batch 1 with the fast setting
    python benchmarks/profile_step.py --device cuda --infer --batch 1 \
        --mode bf16+cl
"""
import argparse
import os.path as osp
import re
import sys
import time
from typing import Dict, List

_HERE = osp.dirname(osp.abspath(__file__))
for _p in (_HERE, osp.dirname(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_leaves  # noqa: E402

from benchmark_utils.models import (  # noqa: E402
    DEFAULT_CONFIGS,
    build_model,  # noqa: E402
    import_plugin,
    load_model_cfg,
    parse_config_spec)

import_plugin()

from benchmark_utils import measure  # noqa: E402
from benchmark_utils.provenance import git_commit  # noqa: E402
from benchmark_utils.report import write_atomic  # noqa: E402

#: (category, regular expression on the kernel / operator name), first match
CATEGORIES = (
    ('layout conversion', r'nchwToNhwc|nhwcToNchw|convertTensor|transpose_'),
    ('convolution', r'conv|xmma|implicit_gemm|cudnn::(?!bn)|wgrad|dgrad|'
     r'winograd|fprop|sm\d+_.*gemm|cutlass'),
    ('batch norm', r'batch_norm|bn_|batchnorm|welford'),
    ('resize', r'upsample|interpolate|adaptive_avg|avg_pool|grid_sampler'),
    ('GEMM', r'gemm|gemv|bmm|matmul|addmm|cublas'),
    ('copy', r'memcpy|Memcpy|copy_|CatArrayBatched|cat_'),
    ('reduction', r'reduce|softmax|sum|mean|max|norm'),
    ('element-wise', r'elementwise|vectorized|unrolled|pointwise|triton'),
)


def categorize(name: str) -> str:
    """The category of a kernel or operator name (see ``CATEGORIES``)."""
    for label, pattern in CATEGORIES:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return label
    return 'other'


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.split('\n\n')[0])
    p.add_argument(
        '--configs',
        nargs='+',
        default=None,
        metavar='[LABEL=]CONFIG',
        help='configs (default: Hourglass-52 and SADI-Net)')
    p.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument(
        '--batch',
        type=int,
        default=None,
        help='batch size (default 64 on CUDA, 2 on CPU)')
    p.add_argument(
        '--input-size',
        type=int,
        default=None,
        help='square input size (default: the config\'s)')
    p.add_argument(
        '--mode',
        default='fp32',
        help='one benchmark mode, e.g. fp32, bf16+cl')
    p.add_argument(
        '--infer',
        action='store_true',
        help='profile inference calls instead of training steps')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument(
        '--rows', type=int, default=40, help='rows of the per-kernel table')
    p.add_argument(
        '--parts',
        action='store_true',
        help='also count the operations of one training step by '
        'part (backbone, neck, head + loss, optimizer)')
    p.add_argument(
        '--out', default=None, help='write the report here too (atomically)')
    return p.parse_args(argv)


def _events_table(prof, device: str, rows: int) -> str:
    key = 'self_cuda_time_total' if device.startswith('cuda') else \
        'self_cpu_time_total'
    return prof.key_averages().table(
        sort_by=key, row_limit=rows, max_name_column_width=90)


def _device_time_us(evt, cuda: bool) -> float:
    if cuda:
        for attr in ('self_device_time_total', 'self_cuda_time_total'):
            if hasattr(evt, attr):
                return float(getattr(evt, attr))
        return 0.
    return float(evt.self_cpu_time_total)


def _categories(prof, cuda: bool, steps: int, plain_ms: float) -> List[str]:
    totals: Dict[str, float] = {}
    for evt in prof.key_averages():
        us = _device_time_us(evt, cuda)
        if us <= 0:
            continue
        if cuda and not _is_kernel(evt):
            continue
        cat = categorize(evt.key)
        totals[cat] = totals.get(cat, 0.) + us
    whole = sum(totals.values()) or 1.
    lines = ['| category | ms per step | share |', '| --- | --- | --- |']
    for cat, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        lines.append(f'| {cat} | {us / 1e3 / steps:.2f} | '
                     f'{100 * us / whole:.1f}% |')
    lines.append(f'| total | {whole / 1e3 / steps:.2f} | 100% |')
    if cuda:
        lines += [
            '', f'device busy {whole / 1e3 / steps:.2f} ms of the '
            f'{plain_ms:.2f} ms a step takes without the profiler '
            f'({100 * whole / 1e3 / steps / plain_ms:.0f}%; far '
            'below 100%: the host, Python and kernel launches, sets '
            'the pace)'
        ]
    return lines


def count_operations(prof) -> int:
    """PyTorch operators called from Python (not from inside another
    operator): on a GPU each launches one or more kernels, so at small
    batch this count bounds the time by launch overhead."""
    count = 0
    for evt in prof.events():
        if not evt.name.startswith('aten::'):
            continue
        parent = evt.cpu_parent
        while parent is not None and not parent.name.startswith('aten::'):
            parent = parent.cpu_parent
        count += parent is None
    return count


class DispatchCounter(TorchDispatchMode):
    """Counts every operation that reaches PyTorch's dispatcher (the ones
    autograd runs in the backward pass included), and the views among them
    (which launch no kernel)."""

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.views = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        self.views += bool(func.is_view)
        return func(*args, **(kwargs or {}))


def operations_by_part(model, step, x, samples, mode) -> List[str]:
    """Dispatched operations of one training step, split by part.

    Counts four nested runs, each after one uncounted run: the backbone's
    forward and backward (its outputs summed), then backbone + neck, then
    the model's loss, then the whole ``step`` (optimizer and gradient
    clipping included); each part is the difference to the previous run,
    so it carries a few operations of the summing glue. Runs eagerly, with
    the mode's autocast and layout.

    Returns:
        list[str]: Markdown table lines.
    """
    ctx = measure.autocast_ctx(str(x.device), mode)
    neck = model.neck if getattr(model, 'with_neck', False) else None

    def features_to(level):

        def run():
            with ctx:
                feats = model.backbone(x)
                if level == 'neck' and neck is not None:
                    feats = neck(feats)
                total = sum(t.float().sum() for t in tree_leaves(feats)
                            if isinstance(t, torch.Tensor))
            total.backward()

        return run

    def loss_only():
        with ctx:
            loss, _ = model.parse_losses(model(x, samples, mode='loss'))
        loss.backward()

    counts = []
    for fn in (features_to('backbone'), features_to('neck'), loss_only, step):
        fn()
        model.zero_grad(set_to_none=True)
        with DispatchCounter() as counter:
            fn()
        model.zero_grad(set_to_none=True)
        counts.append((counter.ops, counter.views))
    names = ('backbone', 'neck', 'head + loss',
             'optimizer (+ clip, zero_grad)')
    lines = [
        '| part | operations | of them views (no kernel) |',
        '| --- | --- | --- |'
    ]
    prev = (0, 0)
    for name, (ops, views) in zip(names, counts):
        lines.append(f'| {name} | {ops - prev[0]:,} | {views - prev[1]:,} |')
        prev = (ops, views)
    lines.append(f'| total | {counts[-1][0]:,} | {counts[-1][1]:,} |')
    return lines


def _is_kernel(evt) -> bool:
    """Device kernels and memcpys (not the aten operators around them)."""
    return not evt.key.startswith(('aten::', 'autograd::', 'Optimizer',
                                   'cudaLaunch', 'cuda', 'ProfilerStep'))


def profile_config(spec, args, device: str) -> str:
    try:
        cfg, model_cfg, input_size = load_model_cfg(spec.config,
                                                    args.input_size)
    except (OSError, ValueError, SyntaxError) as e:
        raise SystemExit(f'error: {spec.label}: {e}') from e
    mode = measure.parse_mode(args.mode)
    batch = args.batch or (64 if device.startswith('cuda') else 2)
    model = build_model(model_cfg, device, seed=0)
    if args.infer:
        fn = measure.setup_predict(
            model, model_cfg, mode, batch, input_size, device, flip=False)
    else:
        optim_cfg = cfg.get('optim_wrapper',
                            dict(optimizer=dict(type='Adam', lr=1e-3)))
        fn = measure.setup_train_step(model, model_cfg, optim_cfg, mode, batch,
                                      input_size, device)
    for _ in range(args.warmup):
        fn()
    measure.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        fn()
    measure.synchronize(device)
    plain_ms = 1e3 * (time.perf_counter() - t0) / args.steps
    cuda = device.startswith('cuda')
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            fn()
        measure.synchronize(device)
        elapsed = time.perf_counter() - t0
    what = 'inference call' if args.infer else 'training step'
    lines = [
        f'## {spec.label} ({spec.config})', '',
        f'{what}s: {args.steps} profiled after {args.warmup} warm-up, '
        f'batch {batch}, input {input_size[0]}x{input_size[1]}, mode '
        f'{mode.name}: {plain_ms:.1f} ms per {what} ('
        f'{1e3 * elapsed / args.steps:.1f} with the profiler on), '
        f'{count_operations(prof) / args.steps:.0f} PyTorch operations per '
        f'{what}', '',
        '### device time by category' if cuda else '### CPU time by category',
        '', *_categories(prof, cuda, args.steps, plain_ms), ''
    ]
    if args.parts:
        lines += [f'### operations of one {what} by part', '']
        if mode.compile:
            lines.append('not counted under +compile (run the mode '
                         'without it)')
        else:
            x, samples = measure.random_batch(model, model_cfg, batch,
                                              input_size, mode, 0, True)
            lines += operations_by_part(model, fn, x, samples, mode)
        lines.append('')
    lines += [
        f'### top {args.rows} by self {"device" if cuda else "CPU"} time', '',
        '```',
        _events_table(prof, device, args.rows), '```', ''
    ]
    del model, fn
    if cuda:
        torch.cuda.empty_cache()
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = args.device
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda but no CUDA device is visible')
    try:
        measure.parse_mode(args.mode)
    except ValueError as e:
        raise SystemExit(f'error: --mode: {e}') from e
    if args.parts and args.infer:
        raise SystemExit('error: --parts splits a training step; it cannot '
                         'be used with --infer')
    if device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    specs = ([parse_config_spec(c)
              for c in args.configs] if args.configs else [
                  parse_config_spec(f'{label}={path}')
                  for label, path in DEFAULT_CONFIGS if label != 'HRNet-w32'
              ])
    header = [
        '# Profile: ' + ('inference' if args.infer else 'training'), '',
        '- device: ' + (torch.cuda.get_device_name()
                        if device.startswith('cuda') else 'cpu') +
        f'; torch {torch.__version__}',
        '- command: `python benchmarks/profile_step.py ' +
        ' '.join(sys.argv[1:] if argv is None else argv) + '`',
        f'- commit: {git_commit()}', ''
    ]
    parts = ['\n'.join(header)]
    failed = 0
    for spec in specs:
        try:
            parts.append(profile_config(spec, args, device))
        except Exception as e:  # noqa: BLE001 (one line in the report)
            failed += 1
            parts.append(f'## {spec.label} ({spec.config})\n\nerror: '
                         f'{measure.short_error(e)}\n')
            if device.startswith('cuda'):
                torch.cuda.empty_cache()
        print(parts[-1], flush=True)
    if args.out:
        write_atomic(args.out, '\n'.join(parts))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
