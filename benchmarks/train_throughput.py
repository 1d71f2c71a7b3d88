"""Training iterations per second through MMPose's runner on the CPU, one
setting at a time.

    python benchmarks/train_throughput.py                       # the table
    python benchmarks/train_throughput.py --models b f2 --settings \\
        as-is channels-last --threads 1 --iters 60 --repeats 3

Each (model, setting) trains its config for ``--iters`` iterations on the
generated ``standard`` training split (the study's data) in a fresh process,
with MMPose's runner exactly as ``tools/train.py`` builds it, at
``--threads`` compute threads. Each run gives its median iteration time
(mmengine's ``time``, from iteration 11 on) and its median time waiting
for data (``data_time``). With ``--repeats N`` the settings run in turn N
times (as-is, A, B, as-is, A, B, ...), so that a slow spell of the machine
falls on every setting alike; the page gives the median over the repeats
and their range, the images per second and the gain over ``as-is``. A
setting is a named change of the config (:data:`SETTINGS`). Refuses to
start on a machine whose load average is above ``--max-load``; measure on a
quiet machine.

Output: ``benchmarks/results/train_throughput_cpu.md`` and ``.json``
(``--out``), with the commit, the command, torch's version and the CPU.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from benchmark_utils.provenance import git_commit, load_average  # noqa: E402

#: label -> config
MODELS = dict(
    main='configs/synthetic/td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-'
    '128x128.py',
    b='benchmarks/ablation/configs/b_hg-basic.py',
    f2='benchmarks/ablation/configs/f2_sadinet-h1sum.py')


def _hook(cfg, name):
    hooks = [
        h for h in (cfg.get('custom_hooks') or []) if h.get('type') != name
    ]
    cfg.custom_hooks = hooks + [dict(type=name)]


def _no_hook(cfg, name):
    cfg.custom_hooks = [
        h for h in (cfg.get('custom_hooks') or []) if h.get('type') != name
    ]


def _set(key, value):

    def apply(cfg):
        cfg.merge_from_dict({key: value})

    return apply


def _workers(n):

    def apply(cfg):
        cfg.train_dataloader.num_workers = n
        cfg.train_dataloader.persistent_workers = n > 0

    return apply


#: setting -> the changes it makes (applied in order)
SETTINGS = {
    'as-is': [],
    'flush-denormal': [lambda c: _hook(c, 'FlushDenormalHook')],
    'no-flush-denormal': [lambda c: _no_hook(c, 'FlushDenormalHook')],
    'workers=0': [_workers(0)],
    'workers=1': [_workers(1)],
    'workers=2': [_workers(2)],
    'grad-diag-off': [lambda c: _no_hook(c, 'GradBalanceHook')],
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


def _setting(text: str) -> str:
    try:
        changes_of(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err))
    return text


def measure_one(config, setting, iters, data_root, out_json):
    """Train ``iters`` iterations of ``config`` with ``setting`` (runs in
    its own process); write the log's timings to ``out_json``."""
    import sadinet_mmpose  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner
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
    work = tempfile.mkdtemp(prefix='throughput-')
    cfg.work_dir = work
    cfg.launcher = 'none'
    t0 = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    wall = time.perf_counter() - t0
    rows = []
    for root, _, files in os.walk(work):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if 'time' in r][10:]
    med = (lambda v: sorted(v)[len(v) // 2] if v else None)  # noqa: E731
    out = dict(
        iter_s=med([r['time'] for r in rows]),
        data_s=med([r['data_time'] for r in rows]),
        iters=len(rows),
        wall_s=wall,
        batch=cfg.train_dataloader.batch_size)
    with open(out_json, 'w') as f:
        json.dump(out, f)


def _median(values):
    values = sorted(values)
    n = len(values)
    return (values[n // 2] + values[(n - 1) // 2]) / 2 if n else None


def summarise(rows):
    """(model, setting) -> median and range over the repeats of a pair, in
    the order the pairs first ran; a pair none of whose runs finished keeps
    its last error."""
    out = {}
    for r in rows:
        key = (r['model'], r['setting'])
        out.setdefault(
            key,
            dict(
                model=key[0],
                setting=key[1],
                iter_s=[],
                data_s=[],
                batch=r.get('batch'),
                error=None))
        if r.get('iter_s') is None:
            out[key]['error'] = r.get('error', '?')
            continue
        out[key]['iter_s'].append(r['iter_s'])
        out[key]['data_s'].append(r['data_s'])
        out[key]['batch'] = r['batch']
    return list(out.values())


def render(doc, path):
    lines = [
        '# Training throughput through the runner (CPU)', '',
        f'- command: `{doc["command"]}`',
        f'- commit: {doc["commit"]}; torch {doc["torch"]}; {doc["cpu"]}; '
        f'{doc["threads"]} compute thread(s); load average before '
        f'{doc["load_before"]:.2f}', '',
        'Seconds per iteration (batch 32, 128x128, the `standard` training '
        'split): the median over the repeats of each run\'s median from '
        'iteration 11 on, with the range over the repeats; the part spent '
        'waiting for data; images/s; the gain over `as-is` of the same '
        'model (over its first setting where `as-is` did not run).', '',
        '| model | setting | runs | s / iteration | range | data wait (s) | '
        'images / s | speed-up |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    pairs = summarise(doc['rows'])
    base = {}
    for p in sorted(pairs, key=lambda p: p['setting'] != 'as-is'):
        if p['iter_s']:
            base.setdefault(p['model'], (p['setting'], _median(p['iter_s'])))
    for p in pairs:
        if not p['iter_s']:
            lines.append(f'| {p["model"]} | {p["setting"]} | 0 | failed: '
                         f'{p["error"]} | | | | |')
            continue
        it = _median(p['iter_s'])
        gain = f'{base[p["model"]][1] / it:.2f}x'
        lines.append(
            f'| {p["model"]} | {p["setting"]} | {len(p["iter_s"])} | '
            f'{it:.3f} | {min(p["iter_s"]):.3f}-{max(p["iter_s"]):.3f} | '
            f'{_median(p["data_s"]):.3f} | {p["batch"] / it:.0f} | {gain} |')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--one':
        measure_one(argv[1], argv[2], int(argv[3]), argv[4], argv[5])
        return 0
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument(
        '--models',
        nargs='+',
        default=['main', 'b', 'f2'],
        choices=sorted(MODELS))
    p.add_argument(
        '--settings',
        nargs='+',
        default=list(SETTINGS),
        type=_setting,
        help='names of SETTINGS, or several joined by +')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--iters', type=int, default=50)
    p.add_argument(
        '--repeats',
        type=int,
        default=1,
        help='run the settings in turn this many times')
    p.add_argument(
        '--data-root',
        default=osp.join(REPO, 'data', 'synthetic_mpii_standard'))
    p.add_argument('--max-load', type=float, default=0.5)
    p.add_argument(
        '--out',
        default=osp.join(REPO, 'benchmarks', 'results',
                         'train_throughput_cpu.md'))
    args = p.parse_args(argv)
    load = load_average()
    if load > args.max_load:
        print(
            f'train_throughput: load average {load:.2f} > --max-load '
            f'{args.max_load}: the machine is busy, timings would be '
            'wrong',
            file=sys.stderr)
        return 2
    import torch
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads),
        CUDA_VISIBLE_DEVICES='')
    doc = dict(
        command='python benchmarks/train_throughput.py ' + ' '.join(argv),
        commit=git_commit(),
        torch=torch.__version__,
        cpu=platform.processor() or platform.machine(),
        threads=args.threads,
        load_before=load,
        rows=[])
    runs = [(model, setting) for _ in range(max(1, args.repeats))
            for model in args.models for setting in args.settings]
    for model, setting in runs:
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'r.json')
            proc = subprocess.run([
                sys.executable,
                osp.abspath(__file__), '--one',
                osp.join(REPO, MODELS[model]), setting,
                str(args.iters), args.data_root, out
            ],
                                  cwd=REPO,
                                  env=env,
                                  capture_output=True,
                                  text=True)
            row = dict(model=model, setting=setting)
            if proc.returncode == 0 and osp.isfile(out):
                with open(out) as f:
                    row.update(json.load(f))
            else:
                row['error'] = (proc.stderr.strip().splitlines()
                                or ['?'])[-1][:200]
        doc['rows'].append(row)
        print(json.dumps(row), flush=True)
        with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
            json.dump(doc, f, indent=1)
        render(doc, args.out)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
