"""The ``runner`` mode of ``benchmarks/benchmark.py``: training iterations
per second through MMPose's runner, one setting at a time.

Each (model, setting) trains its config for ``--iters`` iterations on the
generated ``standard`` training split, with the runner exactly as
``tools/train.py`` builds it, in a fresh process at ``--threads`` threads;
a run gives its median iteration time (mmengine's ``time``, from iteration
11 on) and its median wait for data. With ``--repeats N`` the settings run
in turn N times (as-is, A, B, as-is, A, B, ...), so that a slow spell of the
machine falls on every setting alike; a record gives the median over the
repeats, their range, images per second and the gain over the model's
first setting. Refuses to start above ``--max-load``.
"""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

from .models import REPO_ROOT
from .provenance import load_average
from .records import make_record

#: The command-line word of a child process (one measurement).
CHILD = '_runner_child'

#: label -> config
MODELS = dict(
    main='configs/synthetic/td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-'
    '128x128.py',
    b='benchmarks/ablation/configs/b_hg-basic.py',
    f2='benchmarks/ablation/configs/f2_sadinet-h1sum.py')


def _hook(name, on):

    def apply(cfg):
        hooks = [
            h for h in (cfg.get('custom_hooks') or []) if h.get('type') != name
        ]
        cfg.custom_hooks = hooks + ([dict(type=name)] if on else [])

    return apply


def _workers(n):

    def apply(cfg):
        cfg.train_dataloader.num_workers = n
        cfg.train_dataloader.persistent_workers = n > 0

    return apply


def _set(key, value):
    return lambda cfg: cfg.merge_from_dict({key: value})


#: setting -> the changes it makes (applied in order)
SETTINGS = {
    'as-is': [],
    'flush-denormal': [_hook('FlushDenormalHook', True)],
    'no-flush-denormal': [_hook('FlushDenormalHook', False)],
    'workers=0': [_workers(0)],
    'workers=1': [_workers(1)],
    'workers=2': [_workers(2)],
    'grad-diag-off': [_hook('GradBalanceHook', False)],
    'channels-last': [_set('model.channels_last', True)],
    'compile': [_set('compile', True)],
}


def changes_of(setting: str) -> list:
    """The changes of a setting; ``a+b`` applies ``a``'s, then ``b``'s."""
    parts = setting.split('+')
    unknown = [p for p in parts if p not in SETTINGS]
    if unknown:
        raise ValueError(f'unknown setting(s) {unknown} in {setting!r}; '
                         f'known: {sorted(SETTINGS)}, joined by +')
    return [c for p in parts for c in SETTINGS[p]]


def add_arguments(p, mode: str) -> None:
    """The options of ``runner``."""
    p.add_argument(
        '--models',
        nargs='+',
        default=['main', 'b', 'f2'],
        choices=sorted(MODELS))
    p.add_argument(
        '--settings',
        nargs='+',
        default=list(SETTINGS),
        help=f'of {sorted(SETTINGS)}, or several joined by +')
    p.add_argument('--iters', type=int, default=50)
    p.add_argument('--repeats', type=int, default=1)
    p.add_argument(
        '--data-root',
        default=osp.join(REPO_ROOT, 'data', 'synthetic_mpii_standard'))
    p.add_argument('--max-load', type=float, default=0.5)


def child(argv: List[str]) -> int:
    """One run: ``CONFIG SETTING ITERS DATA_ROOT OUT_JSON``."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import sadinet_mmpose  # noqa: F401
    config, setting, iters, data_root, out_json = argv
    iters = int(iters)
    cfg = Config.fromfile(config)
    for change in changes_of(setting):
        change(cfg)
    ds = cfg.train_dataloader.dataset
    ds.data_root = data_root.rstrip('/') + '/'
    ds.num_images = 2000
    ds.difficulty = 'standard'
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=iters + 1, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(window_size=1, by_epoch=False)
    cfg.default_hooks.pop('visualization', None)
    cfg.custom_hooks = [
        h for h in (cfg.get('custom_hooks') or [])
        if h.get('type') != 'CheckpointGuardHook'
    ]
    cfg.work_dir = tempfile.mkdtemp(prefix='throughput-')
    cfg.launcher = 'none'
    t0 = time.perf_counter()
    Runner.from_cfg(cfg).train()
    wall = time.perf_counter() - t0
    rows = []
    for root, _, files in os.walk(cfg.work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if 'time' in r][10:]
    with open(out_json, 'w') as f:
        json.dump(
            dict(
                iter_s=_median([r['time'] for r in rows]),
                data_s=_median([r['data_time'] for r in rows]),
                wall_s=wall,
                batch=cfg.train_dataloader.batch_size), f)
    return 0


def _median(values):
    return statistics.median(values) if values else None


def summarise(runs: List[Dict], env: Dict, threads: int) -> List[Dict]:
    """One record per (model, setting): the median over its repeats, their
    range, images/s and the gain over the model's first setting."""
    pairs: Dict = {}
    for r in runs:
        pairs.setdefault((r['model'], r['setting']), []).append(r)
    recs, base = [], {}
    for (model, setting), rows in pairs.items():
        ok = [r for r in rows if r.get('iter_s') is not None]
        if not ok:
            metrics = dict(error=rows[-1].get('error', '?'))
        else:
            it = _median([r['iter_s'] for r in ok])
            base.setdefault(model, it)
            metrics = dict(
                runs=len(ok),
                iter_s=it,
                iter_s_min=min(r['iter_s'] for r in ok),
                iter_s_max=max(r['iter_s'] for r in ok),
                data_s=_median([r['data_s'] for r in ok]),
                img_s=ok[0]['batch'] / it,
                speedup=base[model] / it)
        recs.append(
            make_record(model, 'runner', setting, metrics, env, threads))
    return recs


def run(args, env: Dict, save: Callable, log: Callable) -> int:
    """Every model x setting, ``--repeats`` rounds, each in a process."""
    for setting in args.settings:
        try:
            changes_of(setting)
        except ValueError as e:
            raise SystemExit(f'error: --settings: {e}')
    load = load_average()
    if 0 <= args.max_load < load:
        raise SystemExit(f'error: load average {load:.2f} > --max-load '
                         f'{args.max_load}: the machine is busy')
    threads = args.threads or 1
    child_env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        CUDA_VISIBLE_DEVICES='')
    runs = []
    for _ in range(max(1, args.repeats)):
        for model in args.models:
            for setting in args.settings:
                with tempfile.TemporaryDirectory() as tmp:
                    out = osp.join(tmp, 'r.json')
                    proc = subprocess.run([
                        sys.executable,
                        osp.join(REPO_ROOT, 'benchmarks', 'benchmark.py'),
                        CHILD,
                        osp.join(REPO_ROOT, MODELS[model]), setting,
                        str(args.iters), args.data_root, out
                    ],
                                          cwd=REPO_ROOT,
                                          env=child_env,
                                          capture_output=True,
                                          text=True)
                    row = dict(model=model, setting=setting)
                    if proc.returncode == 0 and osp.isfile(out):
                        with open(out) as f:
                            row.update(json.load(f))
                    else:
                        row['error'] = (proc.stderr.strip().splitlines()
                                        or ['?'])[-1][:200]
                runs.append(row)
                log(json.dumps(row))
                save(summarise(runs, env, threads), replace=True)
    return 0
