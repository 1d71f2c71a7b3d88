"""Controlled study of SADI-Net's parts on synthetic data, at convergence.

    python benchmarks/ablation/study.py --list          # the variants
    python benchmarks/ablation/study.py                 # the converged study
    python benchmarks/ablation/study.py --epochs 10 --seeds 0
                                                        # another budget
    python benchmarks/ablation/study.py --smoke         # CI setting, temp dir
    python benchmarks/ablation/study.py --render        # pages from records
    python benchmarks/ablation/study.py --device cuda --jobs 8   # one GPU

Every variant is a config in ``benchmarks/ablation/configs/`` (one part
changed against a shared base). Each (variant, seed, budget) is one run:
MMPose's stock ``tools/train.py`` trains it on the generated ``standard``
train split, scoring ``MpiiPCKhAccuracy`` (flip test) on the validation
split every ``--val-every`` epochs (the validation curve); its last
checkpoint is then scored on a separate test split, which is reported and
never used for a choice, keeping every test image's joint errors for the
paired bootstrap.

Each finished run writes one small record,
``<out-dir>/study_runs/<variant>/it<iterations>_seed<seed>.json``; the
study skips runs whose record exists with the same settings, a run cut off
mid-way resumes from its last checkpoint (one every ``--val-every``
epochs), and a run's scratch folder is removed once its record is written.
``ablation.md``, ``.json`` and ``.png`` are rendered from all records after
every run. ``--smoke`` writes to a new temporary folder unless ``--out-dir``
is given.
"""
import argparse
import concurrent.futures
import datetime
import glob
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
for _p in (HERE, osp.dirname(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
if REPO not in sys.path:  # the study configs import benchmarks.ablation.*
    sys.path.append(REPO)
import report  # noqa: E402
from benchmark_utils.provenance import git_commit, load_average  # noqa: E402

CONFIG_DIR = osp.join(HERE, 'configs')
DEFAULT_OUT = osp.join(REPO, 'benchmarks', 'results')
DEFAULT_WORK = osp.join(REPO, 'work_dirs', 'ablation')
#: The synthetic tiers the study runs on; each keeps its own data, records
#: and pages (``standard`` where they always were).
TIERS = ('standard', 'hard')
#: Validation and test images and epochs of each tier (defaults).
TIER_IMAGES = dict(
    standard=dict(val_images=300, test_images=300, epochs=30),
    hard=dict(val_images=500, test_images=2000, epochs=45))
RUNS = 'study_runs'
RECORD_FORMAT = 'sadinet-study-run-v1'
#: The variants of the converged study (the others run with --variants).
CORE_VARIANTS = ('f2_sadinet-h1sum', 'b_hg-basic', 'h2_hg-basic-wide-full',
                 'e2_hg-sfm-dlm-h1sum', 'g2_sadinet-loss-sum-h1sum',
                 'c_rfm-d2', 'h_hg-basic-wide')
SMOKE_VARIANTS = ('b_hg-basic', 'f2_sadinet-h1sum')
#: Variants whose test predictions are also decoded from mu and the blend.
DECODE_VARIANTS = ('f2_sadinet-h1sum', )
DECODE_SOURCES = ('h1', 'mu', 'blend')
#: Seconds per training iteration (batch 32, 128x128, one thread, two runs
#: at a time on the 2-core machine), by head family, for the estimate.
SEC_PER_ITER = dict(dlm=1.3, stock=0.9)
SEC_PER_EVAL_IMAGE = 0.08
SEC_PER_RUN_OVERHEAD = 30.


def list_variants():
    """``{name: config path}`` of every variant, sorted by name."""
    return {
        osp.splitext(osp.basename(p))[0]: p
        for p in sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
    }


def describe(path):
    """The opening comment of a variant's config, as one line."""
    words = []
    with open(path) as f:
        for line in f:
            if not line.startswith('#'):
                break
            words.append(line.lstrip('#').strip())
    return ' '.join(words)


def is_dlm(path):
    """Whether a variant keeps the DLM head (not the stock-head family)."""
    with open(path) as f:
        return 'stock_head.py' not in f.read()


def default_out(tier):
    """The records and pages of a tier."""
    return DEFAULT_OUT if tier == 'standard' else osp.join(DEFAULT_OUT, tier)


def default_data(tier):
    """The generated data of a tier."""
    return osp.join(REPO, 'data', f'synthetic_mpii_{tier}')


def load_tags(data_root):
    """``{tag: (N, K) flags}`` of the test split's joints (the hard tier's
    ``tags.json``), or None where the split has none."""
    path = osp.join(data_root, 'test', 'tags.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)['tags']


def tier_of(rec):
    """The tier a record was run on (records before tiers: standard)."""
    return rec.get('settings', {}).get('difficulty', 'standard')


def settings(args):
    """Training and evaluation sizes of one study invocation (and its tier,
    when it is not ``standard``)."""
    if args.smoke:
        s = dict(
            epochs=2,
            train_images=32,
            val_images=8,
            test_images=8,
            batch_size=16,
            val_every=1)
    else:
        s = dict(
            epochs=args.epochs,
            train_images=args.train_images,
            val_images=args.val_images,
            test_images=args.test_images,
            batch_size=32,
            val_every=args.val_every)
    if getattr(args, 'difficulty', 'standard') != 'standard':
        s['difficulty'] = args.difficulty
    s['iters'] = iters_of(s)
    return s


def iters_per_epoch(s):
    """Training iterations of one epoch: records over batch size (a
    ``hard`` image may hold two records; its manifest counts them)."""
    persons = s.get('train_persons', s['train_images'])
    return math.ceil(persons / s['batch_size'])


def iters_of(s):
    return iters_per_epoch(s) * s['epochs']


def cfg_options(s, data_root, seed):
    """``--cfg-options`` of one run's training."""
    e = s['epochs']
    opts = {
        'randomness.seed': seed,
        'train_cfg.max_epochs': e,
        'train_cfg.val_interval': s['val_every'],
        'param_scheduler.1.end': e,
        'param_scheduler.1.T_max': e,
        'default_hooks.checkpoint.interval': s['val_every'],
        'default_hooks.checkpoint.max_keep_ckpts': 2,
        'train_dataloader.batch_size': s['batch_size'],
        'train_dataloader.dataset.num_images': s['train_images'],
        'val_dataloader.dataset.num_images': s['val_images'],
        'test_dataloader.dataset.num_images': s['test_images'],
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.dataset.data_root'] = data_root.rstrip('/') + '/'
        if 'difficulty' in s:
            opts[f'{loader}.dataset.difficulty'] = s['difficulty']
    return opts


def estimate_seconds(jobs, s):
    """Seconds of the runs in ``jobs`` one after the other."""
    evals = s['epochs'] // s['val_every'] * s['val_images'] + \
        s['test_images']
    total = 0.
    for name, path, _ in jobs:
        dlm = is_dlm(path)
        n_eval = evals + (2 * (len(DECODE_SOURCES) - 1) *
                          s['test_images'] if name in DECODE_VARIANTS else 0)
        total += (
            s['iters'] * SEC_PER_ITER['dlm' if dlm else 'stock'] +
            n_eval * SEC_PER_EVAL_IMAGE + SEC_PER_RUN_OVERHEAD)
    return total


def record_path(out_dir, name, seed, s):
    """``<out_dir>/study_runs/<variant>/[<tier>_]it<iters>_seed<seed>.json``
    (no tier in the name for ``standard``, as its records always were)."""
    tier = s.get('difficulty', 'standard')
    stem = f'it{s["iters"]}_seed{seed}.json'
    if tier != 'standard':
        stem = f'{tier}_{stem}'
    return osp.join(out_dir, RUNS, name, stem)


def load_records(out_dir, tier=None):
    """Every run record under ``<out_dir>/study_runs`` (of ``tier`` only,
    when given)."""
    records = []
    for path in sorted(glob.glob(osp.join(out_dir, RUNS, '*', '*.json'))):
        with open(path) as f:
            rec = json.load(f)
        if rec.get('format') != RECORD_FORMAT:
            raise SystemExit(f'{path}: not a study run record (format '
                             f'{rec.get("format")!r}, expected '
                             f'{RECORD_FORMAT!r})')
        if tier is None or tier_of(rec) == tier:
            records.append(rec)
    return records


def write_json_atomic(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(data, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


# ----------------------------------------------------------------------
# one evaluation (runs in a subprocess: --evaluate)
# ----------------------------------------------------------------------
def evaluate_checkpoint(config, checkpoint, opts, jobs, out_json):
    """Score ``checkpoint`` for each ``(split, decode_source)`` in ``jobs``.

    Uses MMPose's runner (``Runner.test``) with :class:`StudyPCKhErrors`
    (``MpiiPCKhAccuracy`` keeping the per-image errors). Also counts the
    parameters and GMACs of the model at its input size.
    """
    import torch
    from mmengine.analysis import get_model_complexity_info
    from mmengine.config import Config
    from mmengine.runner import Runner

    import sadinet_mmpose  # noqa: F401
    import per_image  # noqa: F401  (registers StudyPCKhErrors)

    results = dict(errors={})
    for i, (split, decode) in enumerate(jobs):
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(opts)
        loader = 'test_dataloader' if split == 'test' else 'val_dataloader'
        cfg.test_dataloader = cfg[loader]
        if cfg.model.head.type == 'DLMHead':
            cfg.model.test_cfg.decode_source = decode
        err_file = out_json + f'.{split}_{decode}.errors'
        cfg.test_evaluator = [dict(type='StudyPCKhErrors', out_file=err_file)]
        cls_file = out_json + f'.{split}_{decode}.classes'
        if cfg[loader].dataset.get('difficulty') == 'hard':
            tag_file = osp.join(cfg[loader].dataset.data_root, split,
                                'tags.json')
            cfg.test_evaluator.append(
                dict(
                    type='KeypointErrorTaxonomy',
                    tag_file=tag_file,
                    out_file=cls_file))
        cfg.load_from = checkpoint
        cfg.work_dir = osp.join(osp.dirname(checkpoint), f'eval_{i}')
        cfg.launcher = 'none'
        cfg.experiment_name = f'eval_{split}_{decode}_{os.getpid()}_{i}'
        cfg.visualizer = dict(
            type='PoseLocalVisualizer',
            vis_backends=[],
            name=f'vis_{os.getpid()}_{i}')
        cfg.default_hooks.pop('visualization', None)
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        results[f'{split}/{decode}'] = {
            k: float(v)
            for k, v in metrics.items() if isinstance(v, (int, float))
        }
        with open(err_file) as f:
            results['errors'][f'{split}/{decode}'] = json.load(f)['errors']
        os.remove(err_file)
        if osp.isfile(cls_file):
            with open(cls_file) as f:
                results.setdefault('classes', {})[f'{split}/{decode}'] = \
                    json.load(f)['codes']
            os.remove(cls_file)
        if i == 0:
            model = runner.model
            size = cfg.codec['input_size']
            info = get_model_complexity_info(
                model,
                inputs=(torch.zeros(1, 3, size[1], size[0]), None),
                show_table=False,
                show_arch=False)
            results['params_M'] = sum(p.numel()
                                      for p in model.parameters()) / 1e6
            results['gmacs'] = info['flops'] / 1e9
    with open(out_json, 'w') as f:
        json.dump(results, f)


# ----------------------------------------------------------------------
# training logs
# ----------------------------------------------------------------------
def read_log_rows(work_dir):
    """Every row of the run's scalars.json files, oldest session first (a
    resumed run has one per session)."""
    rows = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def summarise_log(rows, iters_per_epoch):
    """Curves, timing and gradient balance of one run's training log."""
    train = [r for r in rows if 'loss' in r]
    val = {}
    for r in rows:
        if 'PCK' in r and 'loss' not in r:
            val[r['step'] * iters_per_epoch] = (r['PCK'], r.get('PCK@0.1'))
    times = sorted(r['time'] for r in train if 'time' in r)
    data = sorted(r['data_time'] for r in train if 'data_time' in r)
    ratios = [r['grad_ratio'] for r in train if 'grad_ratio' in r]
    out = dict(
        train_curve=[(r['step'], r.get('acc_pose')) for r in train
                     if r.get('acc_pose') is not None],
        val_curve=[(i, *val[i]) for i in sorted(val)],
        final_loss=train[-1]['loss'] if train else None,
        diverged=any(not math.isfinite(r['loss']) for r in train),
        iter_s_median=times[len(times) // 2] if times else None,
        data_s_median=data[len(data) // 2] if data else None)
    if ratios:
        out['grad_ratio_first'] = ratios[0]
        out['grad_ratio_median'] = sorted(ratios)[len(ratios) // 2]
        out['grad_ratio_last'] = ratios[-1]
    if train and 'chi_mean' in train[-1]:
        out['chi_last'] = train[-1]['chi_mean']
        # the mean over the last epoch: the constant-weight control's value
        end = train[-1]['step']
        last = [
            r['chi_mean'] for r in train
            if 'chi_mean' in r and r['step'] > end - iters_per_epoch
        ]
        out['chi_last_epoch_mean'] = sum(last) / len(last)
    return out


# ----------------------------------------------------------------------
# one run
# ----------------------------------------------------------------------
def run_env(args):
    """Environment of a run's processes: threads per run, the device.

    The CPUs are those the study may use (``taskset`` and cgroup cpusets
    narrow them), shared out between ``--jobs`` runs.
    """
    cpus = (
        len(os.sched_getaffinity(0))
        if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)
    threads = str(max(1, cpus // max(1, args.jobs)))
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    # the study configs import benchmarks.ablation.study_loss
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


_CONFIG_LOCK = threading.Lock()


def model_type(config):
    """The ``model.type`` of a variant's config."""
    from mmengine.config import Config
    with _CONFIG_LOCK:
        return Config.fromfile(config).model.type


def runtime_settings(config, opts, env):
    """The speed settings a run trains with (they may change numerics):
    threads, data workers, precision, memory format, denormal flushing."""
    import torch
    from mmengine.config import Config
    with _CONFIG_LOCK:  # mmengine's Config.fromfile is not thread-safe
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(opts)
    hooks = [h.get('type') for h in (cfg.get('custom_hooks') or [])]
    return dict(
        threads=int(env.get('OMP_NUM_THREADS', 0) or 0),
        num_workers=cfg.train_dataloader.get('num_workers', 0),
        optim_wrapper=cfg.optim_wrapper.get('type', 'OptimWrapper'),
        channels_last=bool(cfg.model.get('channels_last', False)),
        flush_denormal='FlushDenormalHook' in hooks,
        torch=torch.__version__)


def run_one(name, config, seed, s, args, log):
    """Train and evaluate one (variant, seed); write and return its record."""
    import mmpose
    work = osp.join(args.work_dir, name, f'it{s["iters"]}_seed{seed}')
    os.makedirs(work, exist_ok=True)
    opts = cfg_options(s, args.data_root, seed)
    if args.memory_format == 'channels-last' and \
            model_type(config) == 'MSTopdownPoseEstimator':
        opts['model.channels_last'] = True
    rec = dict(
        format=RECORD_FORMAT,
        variant=name,
        seed=seed,
        settings=s,
        status='ok',
        commit=git_commit(),
        date=datetime.date.today().isoformat(),
        device=args.device,
        jobs=args.jobs,
        load_before=load_average())
    env = run_env(args)
    rec['runtime'] = runtime_settings(config, opts, env)
    t0 = time.time()
    ckpt = osp.join(work, f'epoch_{s["epochs"]}.pth')
    last = osp.join(work, 'last_checkpoint')
    resumed = osp.isfile(last)
    if resumed:
        with open(last) as f:
            rec['resumed_from'] = osp.basename(f.read().strip())
    if not osp.isfile(ckpt):
        train = osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
        cmd = [
            sys.executable, train, config, '--work-dir', work,
            *(['--resume'] if resumed else []), '--cfg-options',
            *(f'{k}={v}' for k, v in opts.items())
        ]
        with open(osp.join(work, 'train.out'), 'a') as out:
            proc = subprocess.run(
                cmd, cwd=REPO, stdout=out, env=env, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not osp.isfile(ckpt):
            bad = summarise_log(read_log_rows(work), 1)['diverged']
            rec['status'] = 'diverged' if bad else 'failed'
            rec['message'] = (f'{name} seed {seed}: ' +
                              ('loss became NaN/inf' if bad else
                               f'training exited {proc.returncode}') +
                              f' (log: {osp.join(work, "train.out")})')
            log(rec['message'])
            if bad:
                write_json_atomic(
                    record_path(args.out_dir, name, seed, s), rec)
            return rec
    rec['train_s'] = time.time() - t0
    rec.update(summarise_log(read_log_rows(work), iters_per_epoch(s)))
    if rec['diverged']:
        rec['status'] = 'diverged'
        rec['message'] = f'{name} seed {seed}: loss became NaN/inf'
    else:
        jobs = [('test', 'h1')]
        if name in DECODE_VARIANTS:
            jobs += [(split, d) for d in DECODE_SOURCES[1:]
                     for split in ('val', 'test')]
        out_json = osp.join(work, 'eval.json')
        t1 = time.time()
        cmd = [
            sys.executable,
            osp.abspath(__file__), '--evaluate', config, ckpt, out_json,
            json.dumps(opts),
            json.dumps(jobs)
        ]
        with open(osp.join(work, 'eval.out'), 'w') as out:
            proc = subprocess.run(
                cmd, cwd=REPO, stdout=out, env=env, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not osp.isfile(out_json):
            rec['status'] = 'failed'
            rec['message'] = (f'{name} seed {seed}: evaluation exited '
                              f'{proc.returncode} (log: '
                              f'{osp.join(work, "eval.out")})')
            log(rec['message'])
            return rec
        with open(out_json) as f:
            rec['eval'] = json.load(f)
        rec['eval_s'] = time.time() - t1
    rec['load_after'] = load_average()
    write_json_atomic(record_path(args.out_dir, name, seed, s), rec)
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return rec


def prepare_data(config, s, data_root):
    """Generate the synthetic splits once, before runs start in parallel."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    import sadinet_mmpose  # noqa: F401
    init_default_scope('mmpose')
    cfg = Config.fromfile(config)
    for loader, key in (('train_dataloader', 'train_images'),
                        ('val_dataloader', 'val_images'), ('test_dataloader',
                                                           'test_images')):
        ds = dict(
            cfg[loader].dataset,
            data_root=data_root.rstrip('/') + '/',
            num_images=s[key],
            pipeline=[])
        if 'difficulty' in s:
            ds['difficulty'] = s['difficulty']
        DATASETS.build(ds)


# ----------------------------------------------------------------------
def parse_args(argv):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('--list', action='store_true', help='list the variants')
    p.add_argument(
        '--render',
        action='store_true',
        help='only rewrite ablation.md/.json/.png from the '
        'records in --out-dir')
    p.add_argument(
        '--variants',
        nargs='+',
        default=None,
        help='names from --list (default: the converged study\'s '
        'core variants)')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='default: standard 30, hard 45 (where the plain '
        'hourglass is flat)')
    p.add_argument('--train-images', type=int, default=2000)
    p.add_argument(
        '--val-images',
        type=int,
        default=None,
        help='default: standard 300, hard 500')
    p.add_argument(
        '--test-images',
        type=int,
        default=None,
        help='default: standard 300, hard 2000')
    p.add_argument(
        '--val-every',
        type=int,
        default=3,
        help='epochs between two validation scores (and '
        'checkpoints)')
    p.add_argument(
        '--budget-min',
        type=float,
        default=None,
        help='refuse to start when the estimate of the runs left '
        'exceeds this many minutes')
    p.add_argument(
        '--smoke',
        action='store_true',
        help='a few iterations of two variants, written to a '
        'new temporary folder unless --out-dir is given (CI)')
    p.add_argument(
        '--out-dir',
        default=None,
        help=f'records and pages (default {DEFAULT_OUT})')
    p.add_argument(
        '--work-dir',
        default=None,
        help='scratch folder of the runs (default work_dirs/'
        'ablation, inside --out-dir with --smoke)')
    p.add_argument(
        '--keep-work',
        action='store_true',
        help='keep each run\'s scratch folder (checkpoints, logs)')
    p.add_argument(
        '--data-root',
        default=None,
        help='generated data (default data/synthetic_mpii_<tier>)')
    p.add_argument(
        '--difficulty',
        choices=TIERS,
        default='standard',
        help='the synthetic tier; hard records and pages go to '
        'benchmarks/results/hard/ by default')
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument(
        '--memory-format',
        choices=('channels-last', 'contiguous'),
        default='channels-last',
        help='weights and activations of the project\'s '
        'estimator (the stock one of (a) stays contiguous); '
        'channels-last trains SADI-Net 1.4x faster on the CPU '
        '(benchmarks/results/train_throughput_cpu.md)')
    p.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='runs at a time, one process each, CPU threads '
        'shared out between them')
    return p.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--evaluate':
        config, ckpt, out_json, opts, jobs = argv[1:6]
        evaluate_checkpoint(config, ckpt, json.loads(opts),
                            [tuple(j) for j in json.loads(jobs)], out_json)
        return 0
    args = parse_args(argv)
    for key, n in TIER_IMAGES[args.difficulty].items():
        if getattr(args, key) is None:
            setattr(args, key, n)
    all_variants = list_variants()
    if args.list:
        for n, path in all_variants.items():
            mark = '*' if n in CORE_VARIANTS else ' '
            print(f'{mark} {n:28s} {describe(path)}')
        return 0
    if args.smoke and '--seeds' not in argv:
        args.seeds = [0]
    if args.out_dir is None:
        args.out_dir = (
            tempfile.mkdtemp(prefix='sadinet-study-smoke-')
            if args.smoke else default_out(args.difficulty))
    if args.render:
        data_root = args.data_root or default_data(args.difficulty)
        tags = load_tags(data_root)
        if tags is None and args.difficulty == 'hard':
            # a page without the tag columns would replace the full one
            print(
                f'study: --render of the hard tier needs the test split\'s '
                f'difficulty tags, {osp.join(data_root, "test", "tags.json")}'
                f' is missing: pass --data-root of the generated tier, or '
                f'run the study once to generate it',
                file=sys.stderr)
            return 2
        report.render(args.out_dir, load_records(args.out_dir,
                                                 args.difficulty),
                      all_variants, describe, tags)
        print(f'[study] wrote {args.out_dir}/ablation.md, .json, .png')
        return 0
    names = args.variants or list(
        SMOKE_VARIANTS if args.smoke else CORE_VARIANTS)
    unknown = [n for n in names if n not in all_variants]
    if unknown:
        print(
            f'study: unknown variant(s) {unknown}; known: '
            f'{sorted(all_variants)}',
            file=sys.stderr)
        return 2
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            print(
                'study: --device cuda but torch sees no CUDA device',
                file=sys.stderr)
            return 2
    if args.work_dir is None:
        args.work_dir = (
            osp.join(args.out_dir, 'work') if args.smoke else DEFAULT_WORK)
    if args.data_root is None:
        args.data_root = (
            osp.join(args.out_dir, 'data')
            if args.smoke else default_data(args.difficulty))
    s = settings(args)
    if 'difficulty' in s:
        # a hard image may hold two persons: the epoch is known once the
        # train split exists
        prepare_data(all_variants[names[0]], s, args.data_root)
        with open(osp.join(args.data_root, 'train', 'manifest.json')) as f:
            manifest = json.load(f)
        s['train_persons'] = manifest['persons']
        # records of one version of the tier never mix with another's
        s['tier_version'] = manifest['version']
        s['iters'] = iters_of(s)
    done = {(r['variant'], r['seed'])
            for r in load_records(args.out_dir, args.difficulty)
            if r['settings'] == s and r['status'] in ('ok', 'diverged')}
    # seed by seed: every variant of seed 0 first, so that a study cut short
    # still compares all variants
    jobs = [(n, all_variants[n], seed) for seed in args.seeds for n in names
            if (n, seed) not in done]
    est = estimate_seconds(jobs, s) / 60 / max(1, args.jobs)
    print(
        f'[study] {len(names)} variants x {len(args.seeds)} seeds at '
        f'{s["iters"]} iterations: {len(jobs)} runs to do '
        f'({len(names) * len(args.seeds) - len(jobs)} recorded); estimate '
        f'{est:.0f} min on the 2-core CPU',
        flush=True)
    if args.budget_min is not None and est > args.budget_min:
        print(
            f'study: the estimate ({est:.0f} min) exceeds --budget-min '
            f'{args.budget_min:.0f}; fewer variants, seeds or images, or '
            'a larger budget',
            file=sys.stderr)
        return 2
    if jobs:
        prepare_data(jobs[0][1], s, args.data_root)

    def log(msg):
        print(f'[study] {msg}', flush=True)

    tags = load_tags(args.data_root)
    t0 = time.time()
    lock = threading.Lock()
    finished = []

    def one(job):
        name, path, seed = job
        t_run = time.time()
        rec = run_one(name, path, seed, s, args, log)
        with lock:
            finished.append(rec)
            n = len(finished)
            elapsed = time.time() - t0
            pck = rec.get('eval', {}).get('test/h1', {}).get('PCK')
            log(f'{n}/{len(jobs)} {name} seed {seed}: {rec["status"]}' +
                (f', test PCKh@0.5 {pck:.2f}' if pck is not None else '') +
                f', {time.time() - t_run:.0f} s; elapsed {elapsed / 60:.1f} '
                f'min, left ~{elapsed / n * (len(jobs) - n) / 60:.0f} min')
            report.render(args.out_dir,
                          load_records(args.out_dir, args.difficulty),
                          all_variants, describe, tags)
        return rec

    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        recs = list(pool.map(one, jobs))
    report.render(args.out_dir, load_records(args.out_dir, args.difficulty),
                  all_variants, describe, tags)
    log(f'wrote {args.out_dir}/ablation.md, .json, .png in '
        f'{(time.time() - t0) / 60:.1f} min')
    ok = all(r['status'] in ('ok', 'diverged') for r in recs)
    if ok and args.smoke and not args.keep_work:
        # the smoke setting's scratch: its runs and the data it generated
        shutil.rmtree(args.work_dir, ignore_errors=True)
        if args.data_root == osp.join(args.out_dir, 'data'):
            shutil.rmtree(args.data_root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
