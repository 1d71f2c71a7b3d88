"""The ``profile`` mode of ``benchmarks/benchmark.py``: where the time of a
training step (or an inference call) goes.

Records ``--steps`` steps with ``torch.profiler`` after ``--warmup``:
the time per step without and with the profiler, the PyTorch operations
called from Python per step (on a GPU each launches kernels, so at small
batch they bound the time), the device (CPU) time per step by kernel
category, and with ``--parts`` the operations of one training step by part.
``--trace DIR`` writes the Chrome trace of each model for kernel detail.
"""
import os
import os.path as osp
import re
from typing import Callable, Dict

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from . import measure
from .models import build_model, load_model_cfg
from .records import make_record

#: (category, regular expression on the kernel / operator name), first match
CATEGORIES = (
    ('layout', r'nchwToNhwc|nhwcToNchw|convertTensor|transpose_'),
    ('conv', r'conv|xmma|implicit_gemm|cudnn::(?!bn)|wgrad|dgrad|'
     r'winograd|fprop|sm\d+_.*gemm|cutlass'),
    ('norm', r'batch_norm|bn_|batchnorm|welford'),
    ('resize', r'upsample|interpolate|adaptive_avg|avg_pool|grid_sampler'),
    ('gemm', r'gemm|gemv|bmm|matmul|addmm|cublas'),
    ('copy', r'memcpy|Memcpy|copy_|CatArrayBatched|cat_'),
    ('reduction', r'reduce|softmax|sum|mean|max|norm'),
    ('elementwise', r'elementwise|vectorized|unrolled|pointwise|triton'),
)
PARTS = ('backbone', 'neck', 'head_loss', 'optimizer')


def categorize(name: str) -> str:
    """The category of a kernel or operator name (see ``CATEGORIES``)."""
    for label, pattern in CATEGORIES:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return label
    return 'other'


def add_arguments(p, mode: str) -> None:
    """The options of ``profile``."""
    p.add_argument('--batch', type=int, default=None, help='64 GPU, 2 CPU')
    p.add_argument('--input-size', type=int, default=None)
    p.add_argument('--precision', default='fp32', help='e.g. fp32, bf16+cl')
    p.add_argument(
        '--infer', action='store_true', help='inference calls, not steps')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument(
        '--parts',
        action='store_true',
        help='operations of one training step by part')
    p.add_argument('--trace', default=None, help='folder for Chrome traces')


def _is_kernel(evt) -> bool:
    """Device kernels and copies (not the aten operators around them)."""
    return not evt.key.startswith(('aten::', 'autograd::', 'Optimizer',
                                   'cudaLaunch', 'cuda', 'ProfilerStep'))


def category_ms(prof, cuda: bool, steps: int) -> Dict[str, float]:
    """Self device (CPU) milliseconds per step by category."""
    totals: Dict[str, float] = {}
    for evt in prof.key_averages():
        if cuda:
            us = float(getattr(evt, 'self_device_time_total', 0.))
            if not _is_kernel(evt):
                continue
        else:
            us = float(evt.self_cpu_time_total)
        if us > 0:
            key = categorize(evt.key) + '_ms'
            totals[key] = totals.get(key, 0.) + us / 1e3 / steps
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def count_operations(prof) -> int:
    """PyTorch operators called from Python (not from another operator)."""
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
    """Counts every operation that reaches PyTorch's dispatcher, those of
    the backward pass included."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def operations_by_part(model, step, x, samples, mode) -> Dict[str, int]:
    """Dispatched operations of one training step by part.

    Counts four nested runs, each after one uncounted run: the backbone's
    forward and backward (outputs summed), backbone + neck, the model's
    loss, the whole ``step`` (optimizer and clipping included); each part is
    the difference to the previous run.

    Returns:
        dict: ``ops_<part>`` for each of :data:`PARTS`.
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

    out, prev = {}, 0
    for part, fn in zip(PARTS, (features_to('backbone'), features_to('neck'),
                                loss_only, step)):
        fn()
        model.zero_grad(set_to_none=True)
        with DispatchCounter() as counter:
            fn()
        model.zero_grad(set_to_none=True)
        out[f'ops_{part}'] = counter.ops - prev
        prev = counter.ops
    return out


def _profile(spec, args) -> Dict:
    cfg, model_cfg, input_size = load_model_cfg(spec.config, args.input_size)
    device, cuda = args.device, args.device.startswith('cuda')
    mode = measure.parse_mode(args.precision)
    batch = args.batch
    model = build_model(model_cfg, device, seed=0)
    if args.infer:
        fn = measure.setup_predict(
            model, model_cfg, mode, batch, input_size, device, flip=False)
    else:
        optim_cfg = cfg.get('optim_wrapper',
                            dict(optimizer=dict(type='Adam', lr=1e-3)))
        fn = measure.setup_train_step(model, model_cfg, optim_cfg, mode, batch,
                                      input_size, device)
    sync = (lambda: measure.synchronize(device))
    plain = measure.time_calls(dict(step=fn), args.warmup, args.steps, sync)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        profiled = measure.time_calls(dict(step=fn), 0, args.steps, sync)
    metrics = dict(
        step_ms=measure.summary(plain['step'])['ms'],
        step_ms_profiled=measure.summary(profiled['step'])['ms'],
        ops_per_step=count_operations(prof) / args.steps)
    metrics.update(category_ms(prof, cuda, args.steps))
    if args.parts and not mode.compile:
        x, samples = measure.random_batch(model, model_cfg, batch, input_size,
                                          mode, 0, True)
        metrics.update(operations_by_part(model, fn, x, samples, mode))
    if args.trace:
        os.makedirs(args.trace, exist_ok=True)
        prof.export_chrome_trace(osp.join(args.trace, f'{spec.label}.json'))
    return metrics


def run(args, env: Dict, save: Callable, log: Callable) -> int:
    """Profile every config; ``save`` gets each one's record."""
    if args.parts and args.infer:
        raise SystemExit('error: --parts splits a training step; it cannot '
                         'be used with --infer')
    try:
        mode = measure.parse_mode(args.precision)
    except ValueError as e:
        raise SystemExit(f'error: --precision: {e}')
    args.batch = args.batch or (64 if args.device.startswith('cuda') else 2)
    setting = ('infer' if args.infer else 'train') + \
        f' {mode.name} b{args.batch}'
    failed = 0
    for spec in args.configs:
        try:
            metrics = _profile(spec, args)
        except Exception as e:  # noqa: BLE001 (an error record)
            failed += 1
            metrics = dict(error=measure.short_error(e))
        log(f'[{spec.label}] {metrics}')
        save([make_record(spec.label, 'profile', setting, metrics, env)])
        if args.device.startswith('cuda'):
            torch.cuda.empty_cache()
    return 1 if failed else 0
