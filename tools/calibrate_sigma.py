#!/usr/bin/env python
"""Calibrate a DLM model's sigma on its validation split.

    python tools/calibrate_sigma.py CONFIG CHECKPOINT
    python tools/calibrate_sigma.py CONFIG CHECKPOINT --out calibrated.pth

Runs the model as CONFIG tests it (flip, multi-scale, ``decode_source``) on
CONFIG's ``val_dataloader``, so the errors are those of the keypoints that
inference returns, and fits (``fit_sigma_calibration``), per joint, a factor
on the reported sigma and the degrees of freedom of a 2-D Student t whose
50 / 80 / 90 / 95 % regions hold those shares of the joint's errors
(``--method quantile``, the default; ``--method ml``: the maximum-likelihood
factor per joint under one tail shared by all joints, t or Gaussian),
and the median person scale (head size, else
box side) over the crop's side, which the probability score
(``test_cfg.score_mode='probability'``) uses. The result goes into the
head's calibration (``head.calibration``: ``factors`` (K,), ``dof`` (K,),
``scale_ratio`` (1,) and ``fit_conditions``, the test settings of the fit;
a prediction under others reports itself uncalibrated) of a
**new** checkpoint
(default ``<checkpoint>_sigma-calibrated.pth``; an existing file is never
overwritten), with the fit and the validation calibration before and after
under ``meta['sigma_calibration']``. See docs/uncertainty.md.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(
        description='Fit a DLM model\'s sigma calibration on the validation '
        'split; write a new checkpoint.',
        allow_abbrev=False)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument(
        '--out',
        default=None,
        help='new checkpoint (default: '
        '<checkpoint>_sigma-calibrated.pth)')
    p.add_argument(
        '--method',
        choices=('quantile', 'ml'),
        default='quantile',
        help='per-joint tails matching the coverage (quantile) or one '
        'shared tail by maximum likelihood (ml)')
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='key=value overrides of CONFIG')
    return p.parse_args(argv)


def collect(model, dataloader):
    """Predictions (keypoints, sigmas in image pixels) and the truth of
    every sample of ``dataloader``."""
    import torch

    from sadinet_mmpose.evaluation.metrics.sigma_calibration import \
        person_scale
    rows = []
    with torch.no_grad():
        for data in dataloader:
            for ds in model.test_step(data):
                pred, gt = ds.pred_instances, ds.gt_instances
                vis = np.asarray(gt.keypoints_visible)
                vis = vis[..., 0] if vis.ndim == 3 else vis
                rows.append(
                    dict(
                        pred=np.asarray(pred.keypoints)[0, :, :2],
                        sigma=np.asarray(pred.keypoint_sigmas)[0],
                        gt=np.asarray(gt.keypoints)[0, :, :2],
                        visible=vis.reshape(-1) > 0,
                        scale=person_scale(gt.to_dict()),
                        side=float(np.max(ds.metainfo['input_scale']))))
    stack = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return stack


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmpose.apis import init_model

    import sadinet_mmpose  # noqa: F401
    from sadinet_mmpose.evaluation.functional import fit_sigma_calibration
    from sadinet_mmpose.evaluation.metrics.sigma_calibration import \
        sigma_calibration

    out = args.out or osp.splitext(args.checkpoint)[0] + \
        '_sigma-calibrated.pth'
    if osp.abspath(out) == osp.abspath(args.checkpoint) or osp.exists(out):
        print(
            f'error: {out} exists (or is the input); give another --out',
            file=sys.stderr)
        return 2
    if not osp.isdir(osp.dirname(osp.abspath(out))):
        print(
            f'error: --out {out}: the folder '
            f'{osp.dirname(osp.abspath(out))} does not exist',
            file=sys.stderr)
        return 2
    if not osp.isfile(args.config):
        print(f'error: config {args.config} does not exist', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    if not cfg.get('val_dataloader'):
        print(
            f'error: {args.config} has no val_dataloader: the calibration '
            'is fitted on the validation split',
            file=sys.stderr)
        return 2
    from sadinet_mmpose.engine import (CheckpointMismatchError,
                                       load_fitting_checkpoint)
    model = init_model(cfg, None, device=args.device)
    try:  # a checkpoint of another model is refused, not half loaded
        load_fitting_checkpoint(model, args.checkpoint, args.config)
    except CheckpointMismatchError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    head = model.head
    if not hasattr(head, 'calibration'):
        print(
            f'error: {args.config}: model.head is {type(head).__name__}, '
            'which predicts no sigma (a DLMHead does)',
            file=sys.stderr)
        return 2
    head.calibration.reset()
    loader = Runner.build_dataloader(cfg.val_dataloader)
    data = collect(model, loader)
    err = data['pred'] - data['gt']
    fit = fit_sigma_calibration(
        err, data['sigma'], data['visible'], method=args.method)
    factors, dofs = fit['factors'], fit['dofs']
    student = bool(np.isfinite(dofs).all())
    names = [
        model.dataset_meta['keypoint_id2name'][k] for k in range(len(factors))
    ]
    before = sigma_calibration(
        data['pred'],
        data['gt'],
        data['sigma'],
        data['visible'],
        data['scale'],
        joint_names=names)
    after = sigma_calibration(
        data['pred'],
        data['gt'],
        data['sigma'] * factors[None, :, None],
        data['visible'],
        data['scale'],
        dof=dofs if student else None,
        joint_names=names)

    ckpt = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt)
    prefix = [
        k[:-len('factors')] for k in model.state_dict()
        if k.endswith('head.calibration.factors')
    ][0]
    state[prefix + 'factors'] = torch.tensor(factors, dtype=torch.float32)
    # the head stores the Gaussian (dof inf) as 0
    state[prefix + 'dof'] = torch.tensor(
        np.where(np.isfinite(dofs), dofs, 0.), dtype=torch.float32)
    # the person scale over the crop's side, for the probability score
    ratio = float(np.median(data['scale'] / data['side']))
    state[prefix + 'scale_ratio'] = torch.tensor([ratio], dtype=torch.float32)
    # the test settings the predictions of the fit were made with
    from sadinet_mmpose.evaluation.functional import (describe_conditions,
                                                      describe_tail,
                                                      encode_conditions)
    conditions = encode_conditions(model.test_cfg)
    state[prefix + 'fit_conditions'] = torch.from_numpy(conditions)
    meta = ckpt.setdefault('meta', {}) if 'state_dict' in ckpt else {}
    meta['sigma_calibration'] = dict(
        source=osp.abspath(args.checkpoint),
        config=osp.abspath(args.config),
        split='val_dataloader',
        num_persons=int(len(err)),
        method=args.method,
        factors=[float(f) for f in factors],
        dof=[float(d) for d in dofs],
        scale_ratio=ratio,
        test_settings=describe_conditions(conditions),
        nll=fit['nll'],
        before=before,
        after=after)
    tmp = out + '.tmp'
    torch.save(ckpt, tmp)
    os.replace(tmp, out)

    levels = (50, 80, 90, 95, 99)
    print('validation split        ' + ' '.join(f'{p:>5d}%'
                                                for p in levels) + '    ECE')
    for name, m in (('before', before), ('after', after)):
        print(f'{name:22s}  ' + ' '.join(f'{m[f"sigma_coverage_{p}"]:6.1f}'
                                         for p in levels) +
              f' {m["sigma_ece"]:6.2f}')
    tail = describe_tail(dofs)
    print(f'fit on {len(err)} persons: {tail}; factors '
          f'{np.round(factors, 3).tolist()}; holds for '
          f'{describe_conditions(conditions)}')
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
