"""Train a config for N iterations per precision on synthetic data; check the
loss.

    python benchmarks/train_check.py CONFIG [--iters 200] [--precisions
    fp32,fp16,bf16]
        [--batch 64] [--out benchmarks/results/train_check.md]

For each precision the config's model is trained from scratch with MMPose's
runner (its pipeline, optimizer, gradient clipping and warm-up) on the
project's synthetic MPII-style data (``SyntheticMpiiDataset``, generated on
first use at the config's input size): fp32 with ``OptimWrapper``, fp16 and
bf16 with mmengine's ``AmpOptimWrapper``. It reports whether any loss was NaN
or infinite and the mean loss of the first and last tenth of the iterations,
prints a markdown table and writes it to ``--out`` (a different previous file
is kept
as ``<out>.prev``). Optionally (``--profile N``) it adds
``benchmarks/profile_step.py``'s report of N fp32 training steps (CUDA only).
"""
import argparse
import datetime
import math
import os.path as osp
import sys
import time

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
from benchmark_utils.provenance import git_commit  # noqa: E402
from benchmark_utils.report import write_atomic  # noqa: E402


def _loss_recorder():
    from mmengine.hooks import Hook
    from mmpose.registry import HOOKS

    @HOOKS.register_module(force=True)
    class _LossRecorderHook(Hook):
        priority = 'LOWEST'
        losses = []

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            value = outputs.get('loss') if outputs else None
            type(self).losses.append(
                float(value) if value is not None else math.nan)

    return _LossRecorderHook


def run_precision(config: str, precision: str, args, recorder) -> dict:
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    size = cfg.codec['input_size'][0]
    cfg.work_dir = osp.join(args.work_dir, precision)
    cfg.train_dataloader.batch_size = args.batch
    cfg.train_dataloader.num_workers = args.workers
    cfg.train_dataloader.persistent_workers = args.workers > 0
    cfg.train_dataloader.dataset = dict(
        type='SyntheticMpiiDataset',
        data_root=args.data_root,
        split='train',
        num_images=args.images,
        image_size=size,
        difficulty='standard',
        pipeline=cfg.train_pipeline)
    cfg.train_cfg = dict(
        by_epoch=False, max_iters=args.iters, val_interval=10**9)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.param_scheduler = [
        s for s in cfg.param_scheduler if not s.get('by_epoch', True)
    ]
    optim = dict(cfg.optim_wrapper)
    if precision == 'fp32':
        optim['type'] = 'OptimWrapper'
    else:
        optim.update(
            type='AmpOptimWrapper',
            dtype='float16' if precision == 'fp16' else 'bfloat16')
    cfg.optim_wrapper = optim
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=10**9, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=20)
    cfg.log_processor = dict(by_epoch=False, window_size=20)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h['type'] != 'CheckpointGuardHook'
    ] + [dict(type=recorder.__name__)]
    cfg.launcher = 'none'
    recorder.losses = []
    runner = Runner.from_cfg(cfg)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    runner.train()
    seconds = time.time() - t0
    losses = list(recorder.losses)
    tenth = max(1, len(losses) // 10)
    finite = [v for v in losses if math.isfinite(v)]
    return dict(
        precision=precision,
        iters=len(losses),
        nonfinite=len(losses) - len(finite),
        first=sum(losses[:tenth]) / tenth,
        last=sum(losses[-tenth:]) / tenth,
        seconds=seconds,
        peak_gib=(torch.cuda.max_memory_allocated() /
                  2**30 if torch.cuda.is_available() else float('nan')))


def profile_fp32(config: str, steps: int, batch: int) -> str:
    """``benchmarks/profile_step.py``'s report of ``steps`` fp32 training steps
    of ``config`` on CUDA (random inputs)."""
    import profile_step
    from benchmark_utils.models import parse_config_spec
    args = profile_step.parse_args([
        '--device', 'cuda', '--mode', 'fp32', '--batch',
        str(batch), '--steps',
        str(steps), '--rows', '25'
    ])
    return profile_step.profile_config(parse_config_spec(config), args, 'cuda')


def main(argv=None):
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=200)
    parser.add_argument('--precisions', default='fp32,fp16,bf16')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--images', type=int, default=2048)
    parser.add_argument('--workers', type=int, default=8)
    parser.add_argument(
        '--data-root', default=osp.join(REPO, 'data', 'synthetic_check'))
    parser.add_argument(
        '--work-dir', default=osp.join(REPO, 'work_dirs', 'train_check'))
    parser.add_argument(
        '--out',
        default=osp.join(REPO, 'benchmarks', 'results', 'train_check.md'))
    parser.add_argument(
        '--profile',
        type=int,
        default=0,
        help='profile this many fp32 steps (CUDA only)')
    args = parser.parse_args(argv)
    if not args.config.startswith('mmpose::') and not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')

    import sadinet_mmpose  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    recorder = _loss_recorder()
    rows = [
        run_precision(args.config, p.strip(), args, recorder)
        for p in args.precisions.split(',')
    ]
    device = torch.cuda.get_device_name() if torch.cuda.is_available(
    ) else 'CPU'
    lines = [
        f'# Training check: {osp.basename(args.config)} ({device})', '',
        '| precision | iterations | non-finite losses | '
        'mean loss, first 10% | '
        'mean loss, last 10% | loss went down | seconds | peak GiB |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        lines.append(
            f"| {r['precision']} | {r['iters']} | {r['nonfinite']} | "
            f"{r['first']:.4f} | "
            f"{r['last']:.4f} | {'yes' if r['last'] < r['first'] else 'NO'} | "
            f"{r['seconds']:.0f} | {r['peak_gib']:.2f} |")
    command = ' '.join(
        ['python', 'benchmarks/train_check.py', *(argv or sys.argv[1:])])
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')
    lines += [
        '', f'- command: `{command}`', f'- commit: {git_commit()}',
        f'- date: {date}',
        f'- torch {torch.__version__}; batch {args.batch}; synthetic data '
        f'(SyntheticMpiiDataset, difficulty standard, {args.images} images) '
        f'through '
        "the config's own training pipeline, optimizer, clip_grad and "
        'warm-up; '
        'fp16/bf16 = mmengine AmpOptimWrapper.'
    ]
    if args.profile and torch.cuda.is_available():
        lines += [
            '', f'## Profile of {args.profile} fp32 training steps', '',
            profile_fp32(args.config, args.profile, args.batch)
        ]
    text = '\n'.join(lines) + '\n'
    print(text)
    kept = write_atomic(args.out, text)
    print(f'wrote {args.out}' +
          (f' (previous version: {kept})' if kept else ''))


if __name__ == '__main__':
    main()
