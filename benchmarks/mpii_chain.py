"""MMPose's stock MPII chain against the project's, on synthetic data whose
joint pixels are known.

    python benchmarks/mpii_chain.py              # the main job's config and
    data
    python benchmarks/mpii_chain.py --smoke      # CI setting, temporary folder

Trains the main job's config twice with MMPose's ``tools/train.py``, same
seed, schedule and images:

- **ours**: the config as shipped (``SyntheticMpiiDataset`` turns MPII's
  1-based joints 0-based on load; ``MpiiPCKhAccuracy``);
- **stock**: MMPose 1.3.2's ``MpiiDataset`` reading the same annotation
  files (joints kept 1-based, box centre made 0-based) and its
  ``MpiiPCKAccuracy`` (adds 1 to the predictions).

Each last checkpoint is scored as its chain reports it (its dataset and
metric, flip test) and against the pixels the generator drew
(``SyntheticMpiiDataset``, ``MpiiPCKhAccuracy`` and ``KeypointBias``, with
and without the flip test). Writes ``results/mpii_chain_cpu.md`` and
``.json`` with the command, the commit and the load average.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from benchmark_utils.provenance import git_commit, load_average  # noqa: E402
from benchmark_utils.records import md_table, write_atomic  # noqa: E402

MAIN_CONFIG = osp.join(
    REPO, 'configs', 'synthetic',
    'td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-128x128.py')
STOCK_OVERRIDE = '''_base_ = [{base!r}]
train_dataloader = dict(dataset=dict(
    _delete_=True, type='MpiiDataset', data_root={root!r},
    ann_file='train/annotations.json', data_prefix=dict(img='train/images/'),
    pipeline={{{{_base_.train_pipeline}}}}))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='MpiiDataset', data_root={root!r},
    ann_file='val/annotations.json', data_prefix=dict(img='val/images/'),
    headbox_file={root!r} + 'val/headboxes.mat', test_mode=True,
    pipeline={{{{_base_.val_pipeline}}}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='MpiiPCKAccuracy')
test_evaluator = val_evaluator
# the stock metric has no PCKh-AUC: keep the best PCKh@0.5
default_hooks = dict(checkpoint=dict(save_best='PCK'))
'''


def _opts(args, root):
    opts = {
        'randomness.seed': args.seed,
        'default_hooks.checkpoint.interval': args.epochs,
        'train_cfg.max_epochs': args.epochs,
        'train_cfg.val_interval': args.epochs + 1,
        'param_scheduler.1.end': args.epochs,
        'param_scheduler.1.T_max': args.epochs
    }
    if args.smoke:
        opts.update({
            'train_dataloader.batch_size': 8,
            'param_scheduler.0.end': 2
        })
    return opts


def prepare_data(root, args):
    """Generate the main job's synthetic splits under ``root`` once."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    import sadinet_mmpose  # noqa: F401
    init_default_scope('mmpose')
    cfg = Config.fromfile(MAIN_CONFIG)
    for loader, n in (('train_dataloader', args.train_images),
                      ('val_dataloader', args.val_images)):
        DATASETS.build(
            dict(
                cfg[loader].dataset, data_root=root, num_images=n,
                pipeline=[]))


def data_opts(args, root, stock):
    """Overrides that point a config at ``root`` with the chosen sizes."""
    if stock:
        return {}
    opts = {}
    for loader, n in (('train_dataloader', args.train_images),
                      ('val_dataloader', args.val_images), ('test_dataloader',
                                                            args.val_images)):
        opts[f'{loader}.dataset.data_root'] = root
        opts[f'{loader}.dataset.num_images'] = n
    return opts


def train(config, work, opts):
    import mmpose
    tool = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
    cmd = [
        sys.executable, tool, config, '--work-dir', work, '--cfg-options',
        *(f'{k}={v}' for k, v in opts.items())
    ]
    with open(osp.join(work, 'train.out'), 'w') as out:
        rc = subprocess.run(
            cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise SystemExit(f'training {config} failed (exit {rc}); log: '
                         f'{osp.join(work, "train.out")}')
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


def score(config, ckpt, opts, evaluators, flip, work):
    """``Runner.test`` of ``ckpt`` with ``evaluators``; the metrics."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import sadinet_mmpose  # noqa: F401
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(opts)
    cfg.model.test_cfg.flip_test = flip
    cfg.test_evaluator = evaluators
    cfg.load_from = ckpt
    cfg.launcher = 'none'
    cfg.work_dir = work
    cfg.default_hooks.pop('visualization', None)
    cfg.experiment_name = f'score_{osp.basename(work)}_{os.getpid()}'
    cfg.visualizer = dict(
        type='PoseLocalVisualizer', vis_backends=[], name=cfg.experiment_name)
    metrics = Runner.from_cfg(cfg).test()
    return {k: float(v) for k, v in metrics.items()}


def main(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--train-images', type=int, default=2000)
    p.add_argument('--val-images', type=int, default=300)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--data-root',
        default=None,
        help='synthetic data (default: a folder under data/)')
    p.add_argument('--work-dir', default=None)
    p.add_argument(
        '--out',
        default=None,
        help='markdown page (default results/mpii_chain_cpu.md; '
        'with --smoke, a temporary folder)')
    p.add_argument(
        '--smoke', action='store_true', help='1 epoch on 16 images (CI)')
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.train_images, args.val_images = 1, 16, 8
    tmp = tempfile.mkdtemp(prefix='sadinet-mpii-chain-') if args.smoke \
        else None
    out = args.out or (osp.join(tmp, 'mpii_chain.md') if args.smoke else
                       osp.join(HERE, 'results', 'mpii_chain_cpu.md'))
    work = args.work_dir or (osp.join(tmp, 'work') if args.smoke else osp.join(
        REPO, 'work_dirs', 'mpii_chain'))
    root = (args.data_root or
            (osp.join(tmp, 'data') if args.smoke else osp.join(
                REPO, 'data', 'synthetic_mpii_chain'))).rstrip('/') + '/'
    os.makedirs(work, exist_ok=True)
    t0, load0, commit = time.time(), load_average(), git_commit()
    prepare_data(root, args)
    stock_cfg = osp.join(work, 'stock_chain.py')
    with open(stock_cfg, 'w') as f:
        f.write(STOCK_OVERRIDE.format(base=MAIN_CONFIG, root=root))
    chains = dict(ours=MAIN_CONFIG, stock=stock_cfg)
    truth = [dict(type='MpiiPCKhAccuracy'), dict(type='KeypointBias')]
    rows = {}
    for name, config in chains.items():
        cw = osp.join(work, name)
        os.makedirs(cw, exist_ok=True)
        opts = dict(
            _opts(args, root), **data_opts(args, root, name == 'stock'))
        ckpt = train(config, cw, opts)
        own = score(config, ckpt, opts, [
            dict(type='MpiiPCKAccuracy' if name ==
                 'stock' else 'MpiiPCKhAccuracy')
        ], True, osp.join(cw, 'own'))
        rows[name] = dict(own=own)
        for flip in (True, False):
            rows[name]['truth_flip' if flip else 'truth_no_flip'] = score(
                MAIN_CONFIG, ckpt,
                dict(_opts(args, root), **data_opts(args, root, False)), truth,
                flip, osp.join(cw, f'truth_{flip}'))
    meta = dict(
        command='python benchmarks/mpii_chain.py ' +
        ' '.join(sys.argv[1:] if argv is None else argv),
        commit=commit,
        date=datetime.date.today().isoformat(),
        load_before=load0,
        load_after=load_average(),
        wall_min=(time.time() - t0) / 60,
        epochs=args.epochs,
        train_images=args.train_images,
        val_images=args.val_images,
        seed=args.seed)
    write_atomic(
        osp.splitext(out)[0] + '.json',
        json.dumps(dict(meta=meta, rows=rows), indent=1) + '\n')
    write_atomic(out, render(meta, rows))
    print(f'[mpii_chain] wrote {out} in {meta["wall_min"]:.1f} min')
    return 0


def render(meta, rows):

    def cells(m, bias=True):
        c = [f'{m["PCK"]:.2f}', f'{m["PCK@0.1"]:.1f}']
        if bias:
            c.append(f'{m["bias_x"]:+.3f} / {m["bias_y"]:+.3f}')
        else:
            c.append('-')
        return c

    table = []
    for name, label in (('stock', 'MMPose 1.3.2: `MpiiDataset` (joints '
                         '1-based) + `RandomFlip`'),
                        ('ours', 'this project: joints 0-based on load')):
        r = rows[name]
        metric = 'MpiiPCKAccuracy (+1)' if name == 'stock' else \
            'MpiiPCKhAccuracy'
        table.append(
            [label, f'its own: {metric}', 'on', *cells(r['own'], bias=False)])
        for key, flip in (('truth_flip', 'on'), ('truth_no_flip', 'off')):
            table.append([label, 'the drawn pixels', flip, *cells(r[key])])
    lines = [
        '# MPII coordinate chains on synthetic data', '',
        f'Written by `{meta["command"]}` at commit {meta["commit"]} on '
        f'{meta["date"]} (2-core CPU, load {meta["load_before"]:.2f} before, '
        f'{meta["load_after"]:.2f} after; {meta["wall_min"]:.1f} min).', '',
        f'SADI-Net tiny (the main job\'s config), {meta["epochs"]} epochs on '
        f'{meta["train_images"]} `easy` images, seed {meta["seed"]}, trained '
        'twice with MMPose\'s `tools/train.py`: once through each chain. '
        f'Scored on {meta["val_images"]} held-out images; "the drawn pixels" '
        'is `SyntheticMpiiDataset` (the joints the generator drew, 0-based) '
        'with `MpiiPCKhAccuracy` and `KeypointBias` (mean signed error, '
        'image px).', '',
        md_table([
            'training chain', 'scored against', 'flip test', 'PCKh@0.5',
            'PCKh@0.1', 'mean error x / y (px)'
        ], table), ''
    ]
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
