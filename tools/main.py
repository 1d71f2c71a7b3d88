"""The main job: train and evaluate a small SADI-Net on synthetic data, on CPU.

    .venv/bin/python tools/main.py

1. The synthetic MPII-style dataset generates itself on first use under
   ``data/synthetic_mpii/`` (train 2000 images, validation 300, test 300,
   each split with its own seed; no download).
2. MMPose's stock ``tools/train.py`` trains the config (default
   ``configs/synthetic/td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-128x128.py``),
   logging progress, validating and keeping the best checkpoint by PCKh on
   the validation split.
3. For a DLM model, ``tools/fit_error_head.py`` fits the error head (when
   the head has one) on the training split, the model frozen, and
   ``tools/calibrate_sigma.py`` fits the sigma calibration on the validation
   split, each into a new checkpoint.
4. MMPose's stock runner tests the best checkpoint on the test split, which
   no choice saw: PCKh@0.5 per joint and PCKh@0.1 with and without the flip
   test, the coordinate bias, sigma's calibration before and after, and the
   AUROC of the heatmap score, of the probability scores and of their
   products with it.
5. Pictures of predictions (skeleton + sigma, H1, H2, sigma per joint) of a
   few test images go to ``<work_dir>/vis/``, the reliability diagram and the
   sparsification plot to ``<work_dir>/calibration.png``, and a summary to
   ``<work_dir>/summary.md``.

Nothing is overwritten: when the work dir is not empty, a new one (``-2``,
``-3``, ...) is used. ``--resume`` instead continues the newest
of them: training from its last checkpoint (one is written every epoch) with
the options it was started with, then the evaluation again. ``--epochs``,
``--train-images`` and ``--val-images`` (validation and test) shorten the
schedule (the test suite runs it that way).

Training runs in a child process (MMPose's ``tools/train.py``). It dies with
this process: SIGTERM and SIGINT are passed on to it, and on Linux the child
asks the kernel for SIGTERM when its parent dies, so even ``kill -9`` of
this process leaves no training behind.
"""
import argparse
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(
    REPO, 'configs', 'synthetic',
    'td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-128x128.py')


def fresh_work_dir(path: str) -> str:
    """``path`` if it is missing or empty, else the first ``path-N`` that
    is: a new job never writes into a folder that holds anything."""
    candidate, n = path, 1
    while osp.exists(candidate) and (not osp.isdir(candidate)
                                     or os.listdir(candidate)):
        n += 1
        candidate = f'{path}-{n}'
    return candidate


def read_main_args(work_dir: str, parser) -> dict:
    """The options an interrupted job was started with
    (``<work_dir>/main_args.json``), checked against today's options."""
    path = osp.join(work_dir, 'main_args.json')
    if not osp.isfile(path):
        sys.exit(f'[main] --resume: {path} is missing: the options of the '
                 'interrupted job are unknown; start a new job instead')
    try:
        with open(path) as f:
            saved = json.load(f)
    except ValueError as e:
        sys.exit(f'[main] --resume: {path} is not valid JSON ({e}); start a '
                 'new job instead')
    if not isinstance(saved, dict):
        sys.exit(f'[main] --resume: {path} holds a {type(saved).__name__}, '
                 'expected the JSON object of the job\'s options')
    missing = [k for k in ('config', 'argv') if k not in saved]
    if missing:
        sys.exit(f'[main] --resume: {path} lacks {" and ".join(missing)}; '
                 'start a new job instead')
    # options added since the job started take their defaults
    defaults = {
        a.dest: a.default
        for a in parser._actions if a.dest not in ('help', 'resume')
    }
    return dict(defaults, **saved)


def resumable_work_dir(path: str) -> str:
    """The newest of ``path``, ``path-2``, ... that holds a
    ``last_checkpoint`` (what ``--resume`` continues)."""
    found = [
        p for p in [path] + glob.glob(f'{path}-[0-9]*')
        if osp.isfile(osp.join(p, 'last_checkpoint'))
    ]
    if not found:
        sys.exit(f'[main] --resume: no interrupted main job under {path} '
                 '(no last_checkpoint); start one without --resume')
    return max(
        found, key=lambda p: osp.getmtime(osp.join(p, 'last_checkpoint')))


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux)."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the signal handlers below still apply
        pass


def run_child(cmd, cwd) -> int:
    """Run ``cmd``; SIGTERM / SIGINT of this process stop it first.

    Returns:
        int: The child's exit code.
    """
    proc = subprocess.Popen(cmd, cwd=cwd, preexec_fn=_die_with_parent)

    def forward(signum, frame):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        sys.exit(128 + signum)

    old = {
        s: signal.signal(s, forward)
        for s in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return proc.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def git_commit() -> str:
    """The repository's short commit, ``+changes`` for a modified tree."""

    def git(*args):
        return subprocess.run(['git', *args],
                              cwd=REPO,
                              capture_output=True,
                              text=True,
                              check=True).stdout.strip()

    try:
        dirty = git('status', '--porcelain', '--untracked-files=no')
        return git('rev-parse', '--short',
                   'HEAD') + ('+changes' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def _mmpose_tool(name: str) -> str:
    import mmpose
    return osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', name)


def _cfg_options(args) -> dict:
    """The config overrides the command line asks for, as dotted keys."""
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    # a checkpoint every epoch: an interrupted job loses at most one
    opts = {'default_hooks.checkpoint.interval': 1}
    if args.epochs is not None:
        opts.update({
            'train_cfg.max_epochs': args.epochs,
            'train_cfg.val_interval': args.epochs,
            'param_scheduler.1.end': args.epochs,
            'param_scheduler.1.T_max': args.epochs
        })
    if args.train_images is not None:
        opts['train_dataloader.dataset.num_images'] = args.train_images
    if args.val_images is not None:
        for d in loaders[1:]:
            opts[f'{d}.dataset.num_images'] = args.val_images
    difficulty = getattr(args, 'difficulty', None)
    data_root = args.data_root
    if difficulty is not None:
        for d in loaders:
            opts[f'{d}.dataset.difficulty'] = difficulty
        if data_root is None and difficulty != 'easy':
            # a folder per tier: one tier's data is never taken for another's
            data_root = osp.join(REPO, 'data', f'synthetic_mpii_{difficulty}')
    if data_root is not None:
        for d in loaders:
            opts[f'{d}.dataset.data_root'] = data_root.rstrip('/') + '/'
    if args.batch_size is not None:
        opts['train_dataloader.batch_size'] = args.batch_size
    if args.num_workers is not None:
        for d in loaders:
            opts[f'{d}.num_workers'] = args.num_workers
            if args.num_workers == 0:
                opts[f'{d}.persistent_workers'] = False
    return opts


def load_config(config: str, opts: dict):
    """``config`` with the overrides ``opts`` (dotted keys) merged in."""
    from mmengine.config import Config

    import sadinet_mmpose  # noqa: F401
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(opts)
    return cfg


def generate_data(config: str, opts: dict) -> None:
    """Generate the synthetic splits of the config before training (each
    dataset generates its split on first use), so that the time of the
    generation is its own."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS
    cfg = load_config(config, opts)
    init_default_scope('mmpose')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[loader].dataset
        if str(ds.get('type', '')).startswith('Synthetic'):
            DATASETS.build(dict(ds, pipeline=[]))


def best_checkpoint(work_dir: str) -> str:
    best = sorted(
        glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if best:
        return best[-1]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def evaluate(config: str,
             checkpoint: str,
             work_dir: str,
             opts: dict,
             name: str = 'test',
             flip_test: bool = True,
             test_cfg: dict = None,
             dump: str = None,
             evaluators: list = None) -> dict:
    """Test ``checkpoint`` on the config's test split with MMPose's runner;
    returns the metrics: by default the config's, ``KeypointBias``,
    ``KeypointScoreAUROC`` and, for a DLM head, ``SigmaCalibration``;
    ``dump`` also keeps the predictions (mmengine's ``DumpResults``)."""
    from mmengine.runner import Runner
    cfg = load_config(config, opts)
    cfg.work_dir = osp.join(work_dir, name)
    cfg.load_from = checkpoint
    cfg.launcher = 'none'
    cfg.model.test_cfg.flip_test = flip_test
    cfg.model.test_cfg.update(test_cfg or {})
    if evaluators is None:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        evaluators = list(evaluators) + [
            dict(type='KeypointBias'),
            dict(type='KeypointScoreAUROC')
        ]
        ds = cfg.test_dataloader.dataset
        if ds.get('difficulty') == 'hard':
            evaluators.append(
                dict(
                    type='KeypointErrorTaxonomy',
                    tag_file=osp.join(ds.data_root, ds.get('split', 'test'),
                                      'tags.json')))
        if cfg.model.get('head', {}).get('type') == 'DLMHead':
            evaluators.append(dict(type='SigmaCalibration'))
    if dump:
        evaluators = list(evaluators) + [
            dict(type='DumpResults', out_file_path=dump)
        ]
    cfg.test_evaluator = evaluators
    cfg.experiment_name = f'{name}_{os.getpid()}'
    runner = Runner.from_cfg(cfg)
    return runner.test()


def calibration_curves_of(dump: str) -> dict:
    """Reliability and sparsification curves of dumped test predictions."""
    import pickle

    import numpy as np

    from sadinet_mmpose.evaluation.metrics.sigma_calibration import (
        calibration_curves, person_scale)
    with open(dump, 'rb') as f:
        rows = pickle.load(f)

    def stack(key, part='pred_instances'):
        return np.stack([np.asarray(r[part][key])[0] for r in rows])

    vis = stack('keypoints_visible', 'gt_instances')
    dof = (
        stack('keypoint_sigma_dof')
        if 'keypoint_sigma_dof' in rows[0]['pred_instances'] else None)
    return calibration_curves(
        stack('keypoints')[..., :2],
        stack('keypoints', 'gt_instances')[..., :2], stack('keypoint_sigmas'),
        (vis[..., 0] if vis.ndim == 3 else vis) > 0,
        np.array([person_scale(r['gt_instances']) for r in rows]), dof)


def write_pictures(config: str, checkpoint: str, work_dir: str, opts: dict,
                   count: int) -> list:
    """Draw predictions of the first ``count`` test images with
    :class:`~sadinet_mmpose.visualization.SigmaPoseVisualizer`."""
    import cv2
    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import DATASETS

    from sadinet_mmpose.visualization import SigmaPoseVisualizer
    cfg = load_config(config, opts)
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, pipeline=[]))
    cfg.model.setdefault('test_cfg', {})['output_heatmaps'] = True
    model = init_model(cfg, checkpoint, device='cpu')
    vis = SigmaPoseVisualizer.get_instance('sadinet_main_job')
    vis.set_dataset_meta(model.dataset_meta)
    out_dir = osp.join(work_dir, 'vis')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for i in range(min(count, len(dataset))):
        info = dataset.get_data_info(i)  # bbox: (1, 4) x1, y1, x2, y2
        img = cv2.imread(info['img_path'])
        result = inference_topdown(model, img, info['bbox'][:1])[0]
        path = osp.join(out_dir,
                        f'{i:03d}_{osp.basename(info["img_path"])}.png')
        cv2.imwrite(path, vis.render_panels(img, result))
        written.append(path)
    return written


def calibration_section(metrics: dict, calibrated: str, plot: str,
                        work_dir: str) -> list:
    """The summary's sigma and score sections (lines of markdown)."""
    import torch
    fit = torch.load(
        calibrated, map_location='cpu',
        weights_only=False)['meta']['sigma_calibration']
    from sadinet_mmpose.evaluation.functional import describe_tail
    tail = describe_tail(fit['dof'])
    levels = (50, 80, 90, 95, 99)
    rows = []
    for label, pre in (('before calibration', ''), ('after', 'calibrated_')):
        m = {
            k[len(pre):]: v
            for k, v in metrics.items() if k.startswith(pre + 'sigma_')
        }
        rows.append(f'| {label} | ' +
                    ' | '.join(f"{m[f'sigma_coverage_{p}']:.1f}"
                               for p in levels) +
                    f" | {m['sigma_ece']:.1f} | {m['sigma_nll']:.2f} | "
                    f"{m['sigma_ause']:.4f} | {m['sigma_sharpness']:.3f} |")
    groups = [
        k[len('sigma_coverage_90_'):] for k in metrics
        if k.startswith('sigma_coverage_90_')
    ]
    out = [
        '', '## Is sigma calibrated?', '',
        'Share of the visible joints whose error lies inside the region '
        'that the predicted distribution gives probability p, against p; '
        'ECE: mean |coverage - p| over p = 5, ..., 95 %; NLL, AUSE and '
        'sharpness (median 90 % radius) in head sizes '
        '([docs/uncertainty.md](../../docs/uncertainty.md)). Calibration '
        f'was fitted on the validation split ({tail}), per-joint '
        f"factors {min(fit['factors']):.2f} to {max(fit['factors']):.2f}.", '',
        '| sigma | 50 % | 80 % | 90 % | 95 % | 99 % | ECE | NLL | '
        'AUSE | sharpness |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |', *rows,
        '', '| joint group | coverage at 90 %, before | after |',
        '| --- | --- | --- |'
    ]
    out += [
        f"| {g} | {metrics[f'sigma_coverage_90_{g}']:.1f} | "
        f"{metrics[f'calibrated_sigma_coverage_90_{g}']:.1f} |" for g in groups
    ]
    if plot:
        out += [
            '', f'Reliability diagram and sparsification plot: '
            f'[{osp.relpath(plot, work_dir)}]({osp.relpath(plot, work_dir)})'
        ]
    names = (('heatmap maximum (MMPose\'s score)',
              ''), ('P(error <= 0.5 x person scale)', 'prob0.5_'),
             ('P(error <= 0.1 x person scale)', 'prob0.1_'),
             ('heatmap maximum x P(error <= 0.5 x person scale)', 'hprob0.5_'),
             ('heatmap maximum x P(error <= 0.1 x person scale)', 'hprob0.1_'))
    out += [
        '', '## Does the score tell right from wrong?', '',
        'AUROC of each score for "the joint is correct at PCKh@0.5" and '
        '"at PCKh@0.1" over the visible joints of the test split '
        "(0.5: no better than chance). The probability scores use the "
        'calibrated distribution and a person scale estimated from the '
        'box (`test_cfg.score_mode=\'probability\'`; times the heatmap '
        'maximum: `\'heatmap_probability\'`).', '',
        '| score | AUROC, correct at PCKh@0.5 [95 % interval] | within a '
        'joint type | at PCKh@0.1 [95 % interval] | within a joint type |',
        '| --- | --- | --- | --- | --- |'
    ]
    best = {}
    for label, pre in names:
        cells = []
        for tau in ('0.5', '0.1'):
            a = metrics.get(f'{pre}score_auroc@{tau}', float('nan'))
            lo = metrics.get(f'{pre}score_auroc_low@{tau}', float('nan'))
            hi = metrics.get(f'{pre}score_auroc_high@{tau}', float('nan'))
            within = metrics.get(f'{pre}score_within_auroc@{tau}',
                                 float('nan'))
            cells += [f'{a:.3f} [{lo:.3f}, {hi:.3f}]', f'{within:.3f}']
            if a == a and (tau not in best or a > best[tau][1]):
                best[tau] = (label, a)
        out.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    words = []
    for tau in ('0.5', '0.1'):
        wrong = metrics.get(f'score_wrong@{tau}')
        if wrong is None or tau not in best:
            continue
        if wrong < 30:
            words.append(f'At PCKh@{tau} the comparison is undecided: '
                         f'{wrong:.0f} wrong joints, fewer than 30.')
        else:
            words.append(f'At PCKh@{tau} ({wrong:.0f} wrong joints) the '
                         f'highest AUROC is {best[tau][0]}\'s '
                         f'({best[tau][1]:.3f}); compare the intervals.')
    out += ['', ' '.join(words)]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        description='Train and evaluate a small SADI-Net on synthetic data.')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument(
        '--work-dir',
        default=osp.join(REPO, 'work_dirs', 'main'),
        help='a new folder is chosen when this one holds checkpoints')
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='shorter schedule (default: the config\'s)')
    parser.add_argument('--train-images', type=int, default=None)
    parser.add_argument('--val-images', type=int, default=None)
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--num-workers', type=int, default=None)
    parser.add_argument(
        '--data-root',
        default=None,
        help='where the synthetic data goes (default: the config\'s '
        'for easy, data/synthetic_mpii_<difficulty>/ otherwise)')
    parser.add_argument(
        '--difficulty',
        choices=('easy', 'standard', 'hard'),
        default=None,
        help='the synthetic tier (default: the config\'s, easy); '
        'hard also reports the error taxonomy per tag')
    parser.add_argument(
        '--pictures',
        type=int,
        default=4,
        help='how many test-split predictions to draw')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='continue the newest interrupted job under '
        '--work-dir with the options it was started with')
    args = parser.parse_args(argv)
    if args.resume:
        work_dir = resumable_work_dir(osp.abspath(args.work_dir))
        args = argparse.Namespace(
            **dict(read_main_args(work_dir, parser), resume=True))
        print(f'[main] resuming {work_dir}', flush=True)
    else:
        work_dir = fresh_work_dir(osp.abspath(args.work_dir))
        if work_dir != osp.abspath(args.work_dir):
            print(f'[main] {args.work_dir} is not empty; using {work_dir}')
    if not osp.isfile(args.config):
        sys.exit(f'config not found: {args.config}')
    os.makedirs(work_dir, exist_ok=True)
    if not args.resume:
        args.argv = list(sys.argv[1:] if argv is None else argv)
        args.config = osp.abspath(args.config)
        with open(osp.join(work_dir, 'main_args.json'), 'w') as f:
            json.dump(vars(args), f, indent=2)
    opts = _cfg_options(args)
    commit = git_commit()  # the code this run starts with
    t0 = time.time()
    phases = {}  # where the time went, in seconds
    generate_data(args.config, opts)
    phases['generation'] = time.time() - t0
    cmd = [
        sys.executable,
        _mmpose_tool('train.py'), args.config, '--work-dir', work_dir
    ]
    if args.resume:
        cmd.append('--resume')
    cmd += ['--cfg-options', *(f'{k}={v}' for k, v in opts.items())]
    print('[main] training:', ' '.join(cmd), flush=True)
    rc = run_child(cmd, REPO)
    if rc != 0:
        sys.exit(f'[main] training failed (exit {rc}); logs in {work_dir}; '
                 'continue with --resume')
    phases['training'] = time.time() - t0 - phases['generation']

    t1 = time.time()
    ckpt = best_checkpoint(work_dir)  # selected on the validation split
    head_cfg = load_config(args.config, opts).model.get('head', {})
    dlm = head_cfg.get('type') == 'DLMHead'
    uncalibrated = ckpt  # the checkpoint whose sigma is calibrated
    if dlm and head_cfg.get('error_head'):
        uncalibrated = osp.join(work_dir, 'error_head.pth')
        if not osp.isfile(uncalibrated):
            print(
                f'[main] fitting the error head of {ckpt} on the training '
                'split',
                flush=True)
            rc = run_child([
                sys.executable,
                osp.join(REPO, 'tools', 'fit_error_head.py'), args.config,
                ckpt, '--out', uncalibrated, '--cfg-options',
                *(f'{k}={v}' for k, v in opts.items())
            ], REPO)
            if rc != 0:
                sys.exit(f'[main] fitting the error head failed (exit {rc})')
        phases['error head'] = time.time() - t1
        t1 = time.time()
    calibrated = osp.join(work_dir, 'sigma_calibrated.pth')
    if dlm and not osp.isfile(calibrated):
        print(
            f'[main] calibrating sigma of {uncalibrated} on the validation '
            'split',
            flush=True)
        rc = run_child([
            sys.executable,
            osp.join(REPO, 'tools',
                     'calibrate_sigma.py'), args.config, uncalibrated, '--out',
            calibrated, '--cfg-options', *(f'{k}={v}' for k, v in opts.items())
        ], REPO)
        if rc != 0:
            sys.exit(f'[main] sigma calibration failed (exit {rc})')
    phases['calibration'] = time.time() - t1
    t1 = time.time()
    print(f'[main] testing {ckpt} on the test split', flush=True)
    before = osp.join(work_dir, 'test', 'predictions.pkl')
    # the keypoints are the best checkpoint's; the sigma is the one that
    # gets calibrated (the error head's when the head has one)
    metrics = evaluate(args.config, uncalibrated, work_dir, opts, dump=before)
    no_flip = evaluate(
        args.config, ckpt, work_dir, opts, 'test_no_flip', flip_test=False)
    for key in ('bias_x', 'bias_y', 'PCK', 'PCK@0.1'):
        if key in no_flip:
            metrics[f'{key}_no_flip'] = no_flip[key]
    plot = None
    if dlm:
        after = osp.join(work_dir, 'test_calibrated', 'predictions.pkl')
        cal = evaluate(
            args.config,
            calibrated,
            work_dir,
            opts,
            'test_calibrated',
            dump=after)
        metrics.update({
            f'calibrated_{k}': v
            for k, v in cal.items() if k.startswith('sigma_')
        })
        for tau in (0.5, 0.1):
            for mode, pre in (('probability', 'prob'), ('heatmap_probability',
                                                        'hprob')):
                prob = evaluate(
                    args.config,
                    calibrated,
                    work_dir,
                    opts,
                    f'test_{pre}{tau:g}',
                    test_cfg=dict(score_mode=mode, score_tau=tau),
                    evaluators=[dict(type='KeypointScoreAUROC')])
                metrics.update({
                    f'{pre}{tau:g}_{k}': v
                    for k, v in prob.items()
                    if k.startswith(('score_auroc', 'score_within'))
                })
        from sadinet_mmpose.visualization import plot_calibration
        plot = plot_calibration(
            osp.join(work_dir, 'calibration.png'),
            dict(
                before=calibration_curves_of(before),
                after=calibration_curves_of(after)),
            'sigma on the test split, before and after calibration on val')
    phases['tests'] = time.time() - t1
    t1 = time.time()
    # the pictures show what a user gets: the calibrated checkpoint's sigma
    pictures = write_pictures(args.config, calibrated if dlm else ckpt,
                              work_dir, opts, args.pictures)
    phases['pictures'] = time.time() - t1
    total = time.time() - t0
    seed = load_config(args.config, opts).get('randomness', {}).get('seed')

    pckh = metrics.get('PCKh', metrics.get('PCK'))
    lines = [
        '# SADI-Net main job (synthetic MPII-style data)', '',
        f'- config: `{osp.relpath(args.config, REPO)}`',
        f'- command: `{" ".join(["python", "tools/main.py", *args.argv])}`' +
        (' (resumed with `--resume`)' if args.resume else ''),
        f'- commit: {commit}',
        f'- checkpoint: `{ckpt}` (best PCKh-AUC on the validation split)' +
        (f'; sigma calibrated on the validation split: '
         f'`{calibrated}`' if dlm else '') +
        (f' (the sigma of the error head fitted on the training split: '
         f'`{uncalibrated}`)' if uncalibrated != ckpt else ''),
        f'- seed: {seed}', f'- time: total {total / 60:.1f} min (' +
        ', '.join(f'{k} {v / 60:.1f}' for k, v in phases.items()) + ')',
        f'- test split PCKh@0.5: **{pckh:.2f}**' if pckh is not None else '',
        '', 'Every figure below is on the test split, which no choice '
        'saw.', '', '| metric | value |', '| --- | --- |'
    ]
    lines += [
        f'| {k} | {v:.2f} |' for k, v in metrics.items()
        if isinstance(v, (int, float)) and not k.startswith(
            ('sigma_', 'bias_', 'calibrated_', 'prob', 'hprob', 'score_'))
    ]
    if 'bias_x' in metrics:
        lines += [
            '', '## Coordinate bias', '',
            'Mean signed error, prediction minus ground truth, over the '
            'visible joints, in image pixels (a convention that is off '
            'between labels, flip and metric shows here).', '',
            '| test | x (px) | y (px) | PCKh@0.5 | PCKh@0.1 |',
            '| --- | --- | --- | --- | --- |',
            f"| flip test | {metrics['bias_x']:+.3f} | "
            f"{metrics['bias_y']:+.3f} | {metrics.get('PCK', 0):.2f} | "
            f"{metrics.get('PCK@0.1', 0):.2f} |"
        ]
        if 'bias_x_no_flip' in metrics:
            lines += [
                f"| no flip | {metrics['bias_x_no_flip']:+.3f} | "
                f"{metrics['bias_y_no_flip']:+.3f} | "
                f"{metrics.get('PCK_no_flip', 0):.2f} | "
                f"{metrics.get('PCK@0.1_no_flip', 0):.2f} |"
            ]
    if 'calibrated_sigma_coverage_90' in metrics:
        lines += calibration_section(metrics, calibrated, plot, work_dir)
    lines += [
        '',
        'Pictures: ' + ', '.join(osp.relpath(p, work_dir) for p in pictures)
    ]
    with open(osp.join(work_dir, 'summary.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(
            dict(
                {
                    k: float(v)
                    for k, v in metrics.items() if isinstance(v, (int, float))
                },
                **{
                    f'time_{k}_s': round(v, 1)
                    for k, v in phases.items()
                },
                time_total_s=round(total, 1)),
            f,
            indent=2)
    print('\n'.join(lines))
    print(f'[main] done in {total / 60:.1f} min (' +
          ', '.join(f'{k} {v / 60:.1f}'
                    for k, v in phases.items()) + f'); work dir: {work_dir}')


if __name__ == '__main__':
    main()
