#!/usr/bin/env python
"""Fit a DLM model's error head on its training split, the model frozen.

    python tools/fit_error_head.py CONFIG CHECKPOINT [--out fitted.pth]

The error head (``KeypointErrorHead``, ``model.head.error_head`` in CONFIG)
predicts the scale of the error of each keypoint the model returns. This
tool predicts CONFIG's training split through the test pipeline as CONFIG
tests (flip, scales, decode source), fits the error head to those errors
(Laplace likelihood, ``--epochs`` passes) and writes a **new** checkpoint
(default ``<checkpoint>_error-head.pth``; an existing file is never
overwritten) in which every other weight is the input's. The sigma
calibration is reset, since it described the previous sigma: calibrate the
new checkpoint with ``tools/calibrate_sigma.py``. See docs/uncertainty.md.
"""
import argparse
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(
        description='Fit a DLM model\'s error head on the training split; '
        'write a new checkpoint.',
        allow_abbrev=False)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument(
        '--out',
        default=None,
        help='new checkpoint (default: <checkpoint>_error-head.pth)')
    p.add_argument('--epochs', type=int, default=40)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--max-images',
        type=int,
        default=None,
        help='images of the training split (synthetic data only)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='key=value overrides of CONFIG')
    return p.parse_args(argv)


def fail(msg: str) -> int:
    print(f'error: {msg}', file=sys.stderr)
    return 2


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmpose.apis import init_model

    import sadinet_mmpose  # noqa: F401
    from sadinet_mmpose.engine import (CheckpointMismatchError,
                                       load_fitting_checkpoint)
    from sadinet_mmpose.engine.error_head_fit import (fit_error_head,
                                                      split_with_test_pipeline)
    out = args.out or osp.splitext(args.checkpoint)[0] + '_error-head.pth'
    if osp.abspath(out) == osp.abspath(args.checkpoint) or osp.exists(out):
        return fail(f'{out} exists (or is the input); give another --out')
    if not osp.isdir(osp.dirname(osp.abspath(out))):
        return fail(f'--out {out}: the folder '
                    f'{osp.dirname(osp.abspath(out))} does not exist')
    if not osp.isfile(args.config):
        return fail(f'config {args.config} does not exist')
    if args.epochs < 1:
        return fail(f'--epochs must be >= 1, got {args.epochs}')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    head_cfg = cfg.model.get('head', {})
    if head_cfg.get('type') != 'DLMHead' or not head_cfg.get('error_head'):
        return fail(
            f'{args.config}: model.head needs type DLMHead with an error '
            "head: add --cfg-options model.head.error_head.type="
            'KeypointErrorHead, or error_head=dict(type=\'KeypointErrorHead\')'
            ' to the head')
    model = init_model(cfg, None, device='cpu')
    try:  # a checkpoint of another model is refused, not half loaded
        ckpt = load_fitting_checkpoint(model, args.checkpoint, args.config)
    except CheckpointMismatchError as e:
        return fail(str(e))
    try:
        loader = Runner.build_dataloader(
            split_with_test_pipeline(cfg, 'train', args.max_images))
    except ValueError as e:
        return fail(f'{args.config}: {e}')
    report = fit_error_head(model, loader, args.epochs, args.seed)
    model.head.calibration.reset()

    state = ckpt.get('state_dict', ckpt)
    for key, value in model.state_dict().items():
        if '.error_head.' in key or '.calibration.' in key:
            state[key] = value.detach().clone()
    meta = ckpt.setdefault('meta', {}) if 'state_dict' in ckpt else {}
    meta.pop('sigma_calibration', None)
    meta['error_head'] = dict(
        source=osp.abspath(args.checkpoint),
        config=osp.abspath(args.config),
        split='train_dataloader (test pipeline)',
        epochs=args.epochs,
        seed=args.seed,
        **report)
    tmp = out + '.tmp'
    torch.save(ckpt, tmp)
    os.replace(tmp, out)
    print(f'fit on {report["num_joints"]} visible joints of '
          f'{report["num_persons"]} persons: Laplace NLL {report["nll"]:.3f} '
          f'(heatmap pixels); the sigma calibration is reset')
    print(f'wrote {out}; next: python tools/calibrate_sigma.py '
          f'{args.config} {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
