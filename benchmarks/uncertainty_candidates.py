"""Candidate uncertainties of the keypoint a DLM model returns, measured.

    python benchmarks/uncertainty_candidates.py CONFIG CHECKPOINT \
        [--data-root DIR] [--difficulty hard] [--out PREFIX]

The model predicts the validation and the test split of CONFIG (flip test as
configured, decoded from H1: the keypoint it returns). For every joint it
keeps the returned keypoint, the heatmap maximum, ``mu_hat``, ``sigma_hat``
and H1's local peak, and forms these uncertainties (per-axis scales in
image pixels):

- ``mu-sigma``: ``sigma_hat``, the flow's scale around ``mu_hat`` (what
  ``keypoint_sigmas`` reports);
- ``peak`` (a): the local Gaussian of H1 at its maximum (the Hessian DARK
  refines with, :func:`peak_scales`);
- ``flow-at-kp`` (b): ``sqrt(sigma_hat^2 + (kp - mu_hat)^2)`` per axis, the
  flow's scale widened by the distance between the returned keypoint and
  ``mu_hat``;
- ``peak+flow``: ``sqrt(peak^2 + (kp - mu_hat)^2)``;
- ``error-head`` (c, with ``--error-head``): the plugin's
  ``KeypointErrorHead`` (an MLP on local features at each joint's H1
  maximum), fitted as ``tools/fit_error_head.py`` fits it: afterwards, on
  the training split through the test pipeline, the pose model frozen, for
  ``--head-epochs`` epochs; its flip-merged scales are what a fitted model
  reports as ``keypoint_sigmas``.

Each is calibrated per joint on the validation split (as
``tools/calibrate_sigma.py``: by default a factor and a Student-t tail per
joint matching its coverage, ``--calibration``) and scored on the test
split: coverage of the 50/80/90/95 % regions (all joints and per joint
group) and, for "correct at PCKh@0.5" and "at PCKh@0.1", the AUROC of the
calibrated probability of being correct, its bootstrap 95 % interval over
persons, its difference to the heatmap maximum's (paired, same draws) and
the mean within-joint AUROC. At PCKh@tau each candidate's score is its
calibrated probability of an error below ``tau`` head sizes; the scores
also include the heatmap maximum and (d) the heatmap maximum times each
candidate's probability (``heatmap x mu-sigma`` is what
``test_cfg.score_mode='heatmap_probability'`` of a calibrated model gives).
The choice is made on the validation split (:func:`choose`); the figures
are the test split's.

Writes ``PREFIX.md`` and ``PREFIX.json`` (default
``benchmarks/results/uncertainty_candidates_<difficulty>``).
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
sys.path.insert(0, HERE)
from benchmark_utils.provenance import git_commit  # noqa: E402

SIGMAS = ('mu-sigma', 'peak', 'flow-at-kp', 'peak+flow', 'error-head')
LEVELS = (50, 80, 90, 95)
TAUS = (0.5, 0.1)
N_BOOT = 1000


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--data-root', default=None)
    p.add_argument('--difficulty', default=None)
    p.add_argument('--out', default=None, help='output prefix')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument(
        '--max-images',
        type=int,
        default=None,
        help='images per split (default: those the data folder holds, '
        'else the config\'s)')
    p.add_argument(
        '--error-head',
        action='store_true',
        help='also train and score candidate (c) on the training split')
    p.add_argument('--head-epochs', type=int, default=40)
    p.add_argument('--head-seed', type=int, default=0)
    p.add_argument(
        '--calibration',
        choices=('quantile', 'ml'),
        default='quantile',
        help='fit_sigma_calibration method (tools/calibrate_sigma.py\'s '
        '--method)')
    p.add_argument(
        '--cache',
        default=None,
        help='.npz of the collected predictions: written once, then read '
        'instead of running the model')
    return p.parse_args(argv)


def _loader(cfg, split, args):
    from mmengine.runner import Runner

    from sadinet_mmpose.engine.error_head_fit import split_with_test_pipeline
    loader = split_with_test_pipeline(cfg, split)
    ds = loader['dataset']
    if args.data_root:
        ds['data_root'] = args.data_root.rstrip('/') + '/'
    if args.difficulty:
        ds['difficulty'] = args.difficulty
    manifest = osp.join(ds.get('data_root', ''), split, 'manifest.json')
    if args.max_images:
        ds['num_images'] = args.max_images
    elif osp.isfile(manifest):  # the images the generated folder holds
        with open(manifest) as f:
            ds['num_images'] = json.load(f)['num_images']
    loader['batch_size'] = args.batch_size
    return Runner.build_dataloader(loader)


def collect(model, loader):
    """Per person: the returned keypoint, the truth and every candidate's
    raw ingredients, in image pixels."""
    import torch

    from sadinet_mmpose.codecs.decoding import heatmap_maxima, peak_scales
    from sadinet_mmpose.evaluation.metrics.sigma_calibration import \
        person_scale
    head, codec = model.head, model.head.decoder
    in_size = np.asarray(codec.input_size, np.float64)
    stride = in_size / np.asarray(codec.heatmap_size, np.float64)
    rows = []
    with torch.no_grad():
        for data in loader:
            data = model.data_preprocessor(data, False)
            inputs, samples = data['inputs'], data['data_samples']
            feats = model._features(inputs)
            dist = head.predict_distribution(feats, samples, model.test_cfg)
            kp, score = head.decode(dist, 'h1')  # input pixels
            h1 = dist['h1'].cpu().numpy()
            peak = peak_scales(heatmap_maxima(h1)[0], h1) * stride
            mu = codec.decode_labels(dist['mu'].cpu().numpy(),
                                     dist['sigma'].cpu().numpy())[0]
            sig = codec.sigmas_to_input(dist['sigma'].cpu().numpy())
            err = None if 'error_sigma' not in dist else \
                codec.sigmas_to_input(dist['error_sigma'].cpu().numpy())
            for i, ds in enumerate(samples):
                meta, gt = ds.metainfo, ds.gt_instances
                scale = np.asarray(meta['input_scale'],
                                   np.float64).reshape(-1)[:2]
                centre = np.asarray(meta['input_center'],
                                    np.float64).reshape(-1)[:2]
                f = scale / in_size
                vis = np.asarray(gt.keypoints_visible).reshape(-1)
                rows.append(
                    dict(
                        kp=kp[i] * f + centre - 0.5 * scale,
                        gt=np.asarray(gt.keypoints)[0, :, :2],
                        visible=vis > 0,
                        head=person_scale(gt.to_dict()),
                        score=score[i],
                        sigma=sig[i] * f,
                        peak=peak[i] * f,
                        off=(kp[i] - mu[i]) * f,
                        f=f))
                if err is not None:
                    rows[-1]['error_head'] = err[i] * f
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def candidate_sigmas(d):
    """The candidates' per-axis scales (N, K, 2), image pixels."""
    return {
        'mu-sigma': d['sigma'],
        'peak': d['peak'],
        'flow-at-kp': np.hypot(d['sigma'], d['off']),
        'peak+flow': np.hypot(d['peak'], d['off']),
        **({
            'error-head': d['error_head']
        } if 'error_head' in d else {}),
    }


def _finite(sig):
    big = np.nanmax(np.where(np.isfinite(sig), sig, np.nan))
    return np.where(np.isfinite(sig), sig, 10 * big)


def auroc_table(scores, d, seed=0):
    """Per threshold ``tau``: the AUROC of each score of ``scores[tau]`` for
    "correct at PCKh@tau", its interval over persons, the paired difference
    to the heatmap maximum's, the within-joint AUROC, the wrong count."""
    from sadinet_mmpose.evaluation.metrics.score_auroc import (auroc,
                                                               within_auroc)
    err = np.linalg.norm(d['kp'] - d['gt'], axis=-1) / d['head'][:, None]
    vis = d['visible']
    n, k = vis.shape
    joint = np.broadcast_to(np.arange(k), (n, k))
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(N_BOOT)]
    out = {}
    for tau in TAUS:
        ok = err < tau
        res = {}
        base = scores[tau]['heatmap']
        for name, s in scores[tau].items():
            m = vis
            a = auroc(s[m], ok[m])
            reps, diffs = [], []
            for idx in draws:
                mb = vis[idx]
                ra = auroc(s[idx][mb], ok[idx][mb])
                rb = auroc(base[idx][mb], ok[idx][mb])
                reps.append(ra)
                diffs.append(ra - rb)
            reps, diffs = np.array(reps), np.array(diffs)
            res[name] = dict(
                auroc=a,
                lo=float(np.nanquantile(reps, 0.025)),
                hi=float(np.nanquantile(reps, 0.975)),
                diff=a - auroc(base[m], ok[m]),
                diff_lo=float(np.nanquantile(diffs, 0.025)),
                diff_hi=float(np.nanquantile(diffs, 0.975)),
                within=within_auroc(s[m], ok[m], joint[m]))
        out[f'PCKh@{tau}'] = dict(
            wrong=int((~ok & vis).sum()), joints=int(vis.sum()), scores=res)
    return out


def evaluate(val, test, joint_names, method='quantile'):
    """Calibrate every candidate on ``val`` (``fit_sigma_calibration``'s
    ``method``); coverage and ranking on ``test``."""
    from sadinet_mmpose.evaluation.functional import (fit_sigma_calibration,
                                                      probability_within)
    from sadinet_mmpose.evaluation.metrics.sigma_calibration import \
        sigma_calibration
    cands_val, cands_test = candidate_sigmas(val), candidate_sigmas(test)
    result = dict(calibration={}, coverage={}, coverage_val={})
    scores = {tau: {'heatmap': test['score']} for tau in TAUS}
    scores_val = {tau: {'heatmap': val['score']} for tau in TAUS}
    for name in cands_test:
        fit = fit_sigma_calibration(
            val['kp'] - val['gt'],
            _finite(cands_val[name]),
            val['visible'],
            method=method)
        factors = fit['factors']
        sig = _finite(cands_test[name]) * factors[None, :, None]
        dofs = fit['dofs'] if np.isfinite(fit['dofs']).all() else None
        sig_val = _finite(cands_val[name]) * factors[None, :, None]
        for tau in TAUS:
            scores_val[tau][name] = probability_within(
                tau * val['head'][:, None], sig_val,
                None if dofs is None else dofs[None])
        cov = sigma_calibration(
            test['kp'],
            test['gt'],
            sig,
            test['visible'],
            test['head'],
            dof=dofs,
            joint_names=joint_names)
        result['calibration'][name] = dict(
            method=method,
            factors=[float(f) for f in factors],
            dof=[float(d) for d in fit['dofs']])
        result['coverage'][name] = cov
        # the same calibration on the split it was fitted on
        result['coverage_val'][name] = sigma_calibration(
            val['kp'],
            val['gt'],
            _finite(cands_val[name]) * factors[None, :, None],
            val['visible'],
            val['head'],
            dof=dofs,
            joint_names=joint_names)
        for tau in TAUS:
            radius = tau * test['head'][:, None]
            scores[tau][name] = probability_within(
                radius, sig, None if dofs is None else dofs[None])
    # (d) the heatmap maximum times each candidate's probability
    for tau in TAUS:
        for name in cands_test:
            if name in scores[tau]:
                scores[tau][f'heatmap x {name}'] = \
                    test['score'] * scores[tau][name]
                scores_val[tau][f'heatmap x {name}'] = \
                    val['score'] * scores_val[tau][name]
    result['auroc'] = auroc_table(scores, test)
    result['auroc_val'] = auroc_table(scores_val, val)
    result['chosen'] = choose(result['auroc_val'])
    return result


def choose(table):
    """The score of ``table`` (an :func:`auroc_table` of the validation
    split) whose smallest gain over the heatmap maximum, over the AUROC and
    the within-joint AUROC at every threshold, is largest: the one nearest
    to the goal of beating it in all four (the heatmap maximum itself
    scores 0)."""
    gains = {}
    for t in table.values():
        base = t['scores']['heatmap']
        for name, r in t['scores'].items():
            gains.setdefault(name, []).extend(
                [r['auroc'] - base['auroc'], r['within'] - base['within']])
    return max(gains, key=lambda n: min(gains[n]))


def _groups(cov):
    """The joint groups of a ``sigma_calibration`` result."""
    return [
        k[len('sigma_coverage_90_'):] for k in cov
        if k.startswith('sigma_coverage_90_')
    ]


def markdown(result, meta):
    from sadinet_mmpose.evaluation.functional import describe_tail
    L = [
        '# Uncertainty of the returned keypoint: the candidates', '',
        f'`{meta["command"]}` at commit {meta["commit"]}: {meta["config"]}, '
        f'checkpoint `{meta["checkpoint"]}`, the `{meta["difficulty"]}` '
        f'tier ({meta["val_persons"]} validation persons for the '
        f'calibration, {meta["test_persons"]} test persons for every '
        'figure below).', '', '## Coverage on the test split', '',
        'Percent of the visible joints inside each calibrated region (the '
        'nominal level in the header), and the joint group and level '
        'farthest from nominal (beside it, that group on the validation '
        'split the calibration was fitted on).', '', '| uncertainty | ' +
        ' | '.join(f'{p} %'
                   for p in LEVELS) + ' | worst group and level | tail |',
        '| --- |' + ' ---: |' * (len(LEVELS) + 1) + ' --- |'
    ]
    for name in result['coverage']:
        cov = result['coverage'][name]
        worst = max(
            ((g, p) for g in _groups(cov) for p in LEVELS),
            key=lambda gp: abs(cov[f'sigma_coverage_{gp[1]}_{gp[0]}'] - gp[1]))
        key = f'sigma_coverage_{worst[1]}_{worst[0]}'
        tail = describe_tail(result['calibration'][name]['dof'])
        L.append(f'| {name} | ' +
                 ' | '.join(f'{cov[f"sigma_coverage_{p}"]:.1f}'
                            for p in LEVELS) +
                 f' | {worst[0]} at {worst[1]} %: {cov[key]:.1f} (val '
                 f'{result["coverage_val"][name][key]:.1f}) | {tail} |')
    val = result['auroc_val']['PCKh@0.1']['scores']
    L += [
        '', '## The choice, on the validation split', '',
        'On the validation split, the score whose smallest gain over the '
        'heatmap maximum (AUROC and within-joint AUROC, at PCKh@0.5 and '
        f'@0.1) is largest: **{result["chosen"]}** (at PCKh@0.1 '
        f'{val[result["chosen"]]["auroc"]:.3f}, within '
        f'{val[result["chosen"]]["within"]:.3f}; the heatmap maximum '
        f'{val["heatmap"]["auroc"]:.3f}, within '
        f'{val["heatmap"]["within"]:.3f}). Every figure below is on the test '
        'split.'
    ]
    for label, t in result['auroc'].items():
        L += [
            '', f'## Ranking: correct at {label}', '',
            f'{t["wrong"]} wrong of {t["joints"]} visible test joints' +
            (' (fewer than 30: every comparison is undecided)'
             if t['wrong'] < 30 else '') + '. AUROC with its 95 % interval '
            'over persons; the difference to the heatmap maximum with its '
            'paired interval; the mean within-joint AUROC.', '',
            '| score | AUROC [95 %] | - heatmap [95 %] | within-joint |',
            '| --- | --- | --- | ---: |'
        ]
        for name, r in t['scores'].items():
            L.append(f'| {name} | {r["auroc"]:.3f} [{r["lo"]:.3f}, '
                     f'{r["hi"]:.3f}] | {r["diff"]:+.3f} '
                     f'[{r["diff_lo"]:+.3f}, {r["diff_hi"]:+.3f}] | '
                     f'{r["within"]:.3f} |')
    return '\n'.join(L) + '\n'


def main(argv=None):
    args = parse_args(argv)
    for what, path in (('config', args.config), ('checkpoint',
                                                 args.checkpoint)):
        if not osp.isfile(path):
            print(f'error: {what} {path} does not exist', file=sys.stderr)
            return 2
    sys.path.insert(0, REPO)
    from mmengine.config import Config
    from mmpose.apis import init_model

    import sadinet_mmpose  # noqa: F401
    cfg = Config.fromfile(args.config)
    if args.error_head and not cfg.model.head.get('error_head'):
        cfg.model.head['error_head'] = dict(type='KeypointErrorHead')
    model = init_model(cfg, args.checkpoint, device='cpu')
    model.eval()
    if type(model.head).__name__ != 'DLMHead':
        print(
            f'error: {args.config}: the head is {type(model.head).__name__}'
            ', not a DLMHead',
            file=sys.stderr)
        return 2
    splits = ('val', 'test')
    fit = None
    if args.cache and osp.isfile(args.cache):
        with np.load(args.cache) as z:
            data = {}
            for key in z.files:
                split, name = key.split('/')
                data.setdefault(split, {})[name] = z[key]
        if any(s not in data
               for s in splits) or args.error_head != ('error_head'
                                                       in data['test']):
            has = 'with' if 'error_head' in data.get('test', {}) else 'without'
            print(
                f'error: {args.cache} holds the splits {sorted(data)} {has} '
                'the error head; give another --cache',
                file=sys.stderr)
            return 2
    else:
        if args.error_head:
            from sadinet_mmpose.engine.error_head_fit import fit_error_head
            fit = fit_error_head(model, _loader(cfg, 'train', args),
                                 args.head_epochs, args.head_seed)
        data = {s: collect(model, _loader(cfg, s, args)) for s in splits}
        if args.cache:
            np.savez(
                args.cache, **{
                    f'{s}/{k}': v
                    for s, d in data.items()
                    for k, v in d.items()
                })
    names = [
        model.dataset_meta['keypoint_id2name'][k]
        for k in range(data['test']['kp'].shape[1])
    ]
    result = evaluate(data['val'], data['test'], names, args.calibration)
    difficulty = args.difficulty or cfg.test_dataloader.dataset.get(
        'difficulty', 'easy')
    out = args.out or osp.join(REPO, 'benchmarks', 'results',
                               f'uncertainty_candidates_{difficulty}')
    meta = dict(
        command='python benchmarks/uncertainty_candidates.py ' +
        ' '.join(sys.argv[1:] if argv is None else argv),
        commit=git_commit(),
        config=osp.relpath(osp.abspath(args.config), REPO),
        checkpoint=osp.basename(args.checkpoint),
        difficulty=difficulty,
        error_head_fit=fit,
        val_persons=len(data['val']['kp']),
        test_persons=len(data['test']['kp']))
    with open(out + '.json', 'w') as f:
        json.dump(dict(meta=meta, **result), f, indent=1, default=float)
    with open(out + '.md', 'w') as f:
        f.write(markdown(result, meta))
    print(f'[uncertainty] wrote {out}.md, .json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
