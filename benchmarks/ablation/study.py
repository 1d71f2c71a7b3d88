"""Controlled ablation study of SADI-Net's parts on synthetic data (2-core CPU).

    .venv/bin/python benchmarks/ablation/study.py            # the default study
    .venv/bin/python benchmarks/ablation/study.py --list     # the variants
    .venv/bin/python benchmarks/ablation/study.py --smoke --out-dir /tmp/s
    .venv/bin/python benchmarks/ablation/study.py --render results/ablation.json

Every variant is a config in ``benchmarks/ablation/configs/`` (one part
changed against a shared base). Each variant is trained for every seed with
MMPose's stock ``tools/train.py`` on the same generated ``standard`` train
split, and its last checkpoint is scored by MMPose's runner with
``MpiiPCKhAccuracy`` (flip test, single scale) on a validation split (for
choices) and on a separate test split (reported; never used for a choice).
DLM variants also get :class:`SigmaCalibration` on the test split and the
gradient-balance diagnostics from their training logs; the full models are
also decoded from ``mu`` and from the blended map.

Writes ``<out-dir>/ablation.json`` (everything, per seed), ``ablation.md``
(tables) and ``ablation.png`` (PCKh@0.5 per variant with every seed, and the
learning curves). A run that fails or diverges is reported in one line and
the others still complete.
"""
import argparse
import concurrent.futures
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import threading
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
if osp.dirname(HERE) not in sys.path:
    sys.path.insert(0, osp.dirname(HERE))
from benchmark_utils.provenance import git_commit  # noqa: E402
CONFIG_DIR = osp.join(HERE, 'configs')
DEFAULT_OUT = osp.join(REPO, 'benchmarks', 'results')
DEFAULT_WORK = osp.join(REPO, 'work_dirs', 'ablation')

#: The paper's PCKh columns and MpiiPCKAccuracy's keys for them.
COLUMNS = [('Head', 'Head PCK'), ('Sho', 'Shoulder PCK'),
           ('Elb', 'Elbow PCK'), ('Wri', 'Wrist PCK'), ('Hip', 'Hip PCK'),
           ('Knee', 'Knee PCK'), ('Ank', 'Ankle PCK'), ('Mean', 'PCK'),
           ('PCKh@0.1', 'PCK@0.1')]
#: Variants whose test predictions are also decoded from mu and the blend.
DECODE_VARIANTS = ('f_sadinet', )
DECODE_SOURCES = ('h1', 'mu', 'blend')
#: Seconds per training iteration (batch 32, 128x128, one thread) on the
#: 2-core machine, by head family, for the estimate printed before the study.
SEC_PER_ITER = dict(dlm=2.4, stock=1.6)
SEC_PER_EVAL = 25.
SEC_PER_RUN_OVERHEAD = 25.
SMOKE_VARIANTS = ('b_hg-basic', 'f_sadinet')
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


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


def settings(args):
    """Training/eval sizes of this study (the smoke setting is tiny)."""
    if args.smoke:
        return dict(epochs=1, train_images=32, val_images=8, test_images=8,
                    batch_size=16)
    return dict(epochs=args.epochs, train_images=args.train_images,
                val_images=args.val_images, test_images=args.test_images,
                batch_size=32)


def cfg_options(s, data_root, seed):
    opts = {
        'randomness.seed': seed,
        'train_cfg.max_epochs': s['epochs'],
        'train_cfg.val_interval': s['epochs'] + 1,
        'param_scheduler.1.end': s['epochs'],
        'param_scheduler.1.T_max': s['epochs'],
        'default_hooks.checkpoint.interval': s['epochs'],
        'train_dataloader.batch_size': s['batch_size'],
        'train_dataloader.dataset.num_images': s['train_images'],
        'val_dataloader.dataset.num_images': s['val_images'],
        'test_dataloader.dataset.num_images': s['test_images'],
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.dataset.data_root'] = data_root.rstrip('/') + '/'
    return opts


def estimate_seconds(variants, s, seeds):
    iters = math.ceil(s['train_images'] / s['batch_size']) * s['epochs']
    total = 0.
    for name, path in variants.items():
        dlm = is_dlm(path)
        evals = 2 + (2 * (len(DECODE_SOURCES) - 1)
                     if name in DECODE_VARIANTS else 0)
        per = (iters * SEC_PER_ITER['dlm' if dlm else 'stock'] +
               evals * SEC_PER_EVAL * s['test_images'] / 300 +
               SEC_PER_RUN_OVERHEAD)
        total += per * len(seeds)
    return total


# ----------------------------------------------------------------------
# one evaluation (runs in a subprocess: --evaluate)
# ----------------------------------------------------------------------
def evaluate_checkpoint(config, checkpoint, opts, jobs, out_json):
    """Score ``checkpoint`` for each ``(split, decode_source)`` in ``jobs``.

    Uses MMPose's runner (``Runner.test``) with ``MpiiPCKhAccuracy`` and, for
    DLM models on the test split, :class:`SigmaCalibration`. Also counts the
    parameters and GMACs of the model at its input size.
    """
    import torch

    import sadinet_mmpose  # noqa: F401
    from mmengine.analysis import get_model_complexity_info
    from mmengine.config import Config
    from mmengine.runner import Runner

    results = {}
    for i, (split, decode) in enumerate(jobs):
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(opts)
        dlm = cfg.model.head.type == 'DLMHead'
        loader = 'test_dataloader' if split == 'test' else 'val_dataloader'
        cfg.test_dataloader = cfg[loader]
        evaluators = [dict(type='MpiiPCKhAccuracy')]
        if dlm:
            cfg.model.test_cfg.decode_source = decode
            if split == 'test':
                evaluators.append(dict(type='SigmaCalibration'))
        cfg.test_evaluator = evaluators
        cfg.load_from = checkpoint
        cfg.work_dir = osp.join(osp.dirname(checkpoint), f'eval_{split}_{decode}')
        cfg.launcher = 'none'
        cfg.experiment_name = f'eval_{split}_{decode}_{os.getpid()}_{i}'
        cfg.visualizer = dict(
            type='PoseLocalVisualizer', vis_backends=[],
            name=f'vis_{os.getpid()}_{i}')
        cfg.default_hooks.pop('visualization', None)
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        results[f'{split}/{decode}'] = {
            k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float))
        }
        if i == 0:
            model = runner.model
            size = cfg.codec['input_size']
            info = get_model_complexity_info(
                model, inputs=(torch.zeros(1, 3, size[1], size[0]), None),
                show_table=False, show_arch=False)
            results['params_M'] = sum(
                p.numel() for p in model.parameters()) / 1e6
            results['gmacs'] = info['flops'] / 1e9
    with open(out_json, 'w') as f:
        json.dump(results, f, indent=1)


# ----------------------------------------------------------------------
# training logs
# ----------------------------------------------------------------------
def read_scalars(work_dir):
    """The training log's per-interval scalars (mmengine's scalars.json)."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    rows = []
    if paths:
        with open(paths[-1]) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    return [r for r in rows if 'loss' in r]


def summarise_log(rows):
    """Learning curve and gradient-balance figures of one training run."""
    curve = [(r['step'], r.get('acc_pose')) for r in rows
             if r.get('acc_pose') is not None]
    ratios = [r['grad_ratio'] for r in rows if 'grad_ratio' in r]
    out = dict(curve=curve,
               final_loss=rows[-1]['loss'] if rows else None,
               diverged=any(not math.isfinite(r['loss']) for r in rows))
    if ratios:
        out['grad_ratio_first'] = ratios[0]
        out['grad_ratio_last'] = ratios[-1]
        out['grad_ratio_median'] = sorted(ratios)[len(ratios) // 2]
    if rows and 'chi_mean' in rows[-1]:
        out['chi_last'] = rows[-1]['chi_mean']
        out['sigma_px_last'] = rows[-1].get('sigma_px')
    return out


# ----------------------------------------------------------------------
# one run
# ----------------------------------------------------------------------
def run_one(name, config, seed, s, args, log):
    """Train and evaluate one (variant, seed); returns its record."""
    import mmpose
    work = osp.join(args.work_dir, name, f'seed{seed}')
    if glob.glob(osp.join(work, '*.pth')) and not args.resume:
        raise SystemExit(f'{work} already holds checkpoints: pass --resume to '
                         'reuse finished runs, or another --work-dir')
    os.makedirs(work, exist_ok=True)
    opts = cfg_options(s, args.data_root, seed)
    rec = dict(variant=name, seed=seed, status='ok')
    t0 = time.time()
    ckpt = osp.join(work, f'epoch_{s["epochs"]}.pth')
    if not (args.resume and osp.isfile(ckpt)):
        train = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools',
                         'train.py')
        cmd = [sys.executable, train, config, '--work-dir', work,
               '--cfg-options', *(f'{k}={v}' for k, v in opts.items())]
        with open(osp.join(work, 'train.out'), 'w') as out:
            proc = subprocess.run(cmd, cwd=REPO, stdout=out, env=ONE_THREAD,
                                  stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not osp.isfile(ckpt):
            rows = read_scalars(work)
            bad = any(not math.isfinite(r['loss']) for r in rows)
            rec['status'] = 'diverged' if bad else 'failed'
            rec['message'] = (
                f'{name} seed {seed}: ' +
                ('loss became NaN/inf' if bad else
                 f'training exited {proc.returncode}') +
                f' (log: {osp.join(work, "train.out")})')
            log(rec['message'])
            return rec
    timing = osp.join(work, 'train_seconds.txt')
    if osp.isfile(timing):
        with open(timing) as f:
            rec['train_s'] = float(f.read())
    else:
        rec['train_s'] = time.time() - t0
        with open(timing, 'w') as f:
            f.write(f'{rec["train_s"]:.1f}\n')
    rec.update(summarise_log(read_scalars(work)))
    if rec.get('diverged'):
        rec['status'] = 'diverged'
        rec['message'] = f'{name} seed {seed}: loss became NaN/inf'
        log(rec['message'])
        return rec
    jobs = [('val', 'h1'), ('test', 'h1')]
    if name in DECODE_VARIANTS:
        jobs += [(split, d) for d in DECODE_SOURCES[1:]
                 for split in ('val', 'test')]
    out_json = osp.join(work, 'eval.json')
    if args.resume and osp.isfile(out_json):
        with open(out_json) as f:
            rec['eval'] = json.load(f)
        return rec
    t1 = time.time()
    cmd = [sys.executable, osp.abspath(__file__), '--evaluate', config, ckpt,
           out_json, json.dumps(opts), json.dumps(jobs)]
    with open(osp.join(work, 'eval.out'), 'w') as out:
        proc = subprocess.run(cmd, cwd=REPO, stdout=out, env=ONE_THREAD,
                              stderr=subprocess.STDOUT)
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
    return rec


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------
def mean_spread(values):
    """Mean and half the min-max range of the finite values."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return sum(vals) / len(vals), (max(vals) - min(vals)) / 2


def fmt(values, digits=1):
    m, h = mean_spread(values)
    if m is None:
        return 'n/a'
    return f'{m:.{digits}f} ± {h:.{digits}f}' if len(values) > 1 else \
        f'{m:.{digits}f}'


def aggregate(records, variants):
    """Per variant: the seeds' values of every reported figure."""
    table = {}
    for name in variants:
        runs = [r for r in records if r['variant'] == name]
        ok = [r for r in runs if r['status'] == 'ok']
        entry = dict(seeds=[r['seed'] for r in ok],
                     failed=[r.get('message') for r in runs
                             if r['status'] != 'ok'])
        for key in ('params_M', 'gmacs'):
            entry[key] = ok[0]['eval'].get(key) if ok else None
        for split_decode in sorted({k for r in ok for k in r['eval']
                                    if '/' in k}):
            entry[split_decode] = {
                k: [r['eval'][split_decode].get(k) for r in ok]
                for k in ok[0]['eval'][split_decode]
            }
        for key in ('grad_ratio_first', 'grad_ratio_median',
                    'grad_ratio_last', 'chi_last', 'sigma_px_last',
                    'train_s'):
            vals = [r.get(key) for r in ok if r.get(key) is not None]
            if vals:
                entry[key] = vals
        entry['curves'] = [r.get('curve', []) for r in ok]
        table[name] = entry
    return table


def write_markdown(path, table, variants, meta):
    L = ['# Ablation study on synthetic data', '']
    if not meta['complete']:
        L += ['**Incomplete: the study was still running when this was '
              'written.**', '']
    L += [
         f'Written by `{meta["command"]}` at commit '
         f'{meta.get("commit", "unknown")} on {meta["date"]} '
         f'({meta["machine"]}); wall time {meta["wall_min"]:.1f} min' +
         (' (this invocation; `--resume` reused the runs an earlier one '
          'finished)' if '--resume' in meta['command'] else '') + '.', '',
         '**Protocol.** Every variant trains with MMPose\'s `tools/train.py` '
         f'on the same generated `standard` split ({meta["settings"]["train_images"]} '
         f'images, {meta["settings"]["epochs"]} epochs, batch '
         f'{meta["settings"]["batch_size"]}, Adam 2e-3, cosine schedule, '
         f'128x128 input, 32x32 heatmaps, seeds {meta["seeds"]}). The last '
         'checkpoint is scored with `MpiiPCKhAccuracy` (flip test, single '
         'scale; decode from H1 unless said otherwise) on a validation split '
         f'({meta["settings"]["val_images"]} images, used for choices) and '
         f'on a separate test split ({meta["settings"]["test_images"]} '
         'images, reported here, never used for a choice). Cells: mean ± '
         'half the range over the seeds. The figure: '
         '[ablation.png](ablation.png); every number per seed: '
         '[ablation.json](ablation.json).', '',
         '## Test split, PCKh@0.5 per joint (and PCKh@0.1)', '',
         '| variant | params (M) | GMACs | ' +
         ' | '.join(c for c, _ in COLUMNS) + ' | val Mean |',
         '| --- | --- | --- | ' + ' | '.join('---' for _ in COLUMNS) +
         ' | --- |']
    for name in variants:
        e = table[name]
        test = e.get('test/h1')
        val = e.get('val/h1')
        if not test:
            L.append(f'| {name} | | | ' + ' | '.join('failed' for _ in COLUMNS)
                     + ' | |')
            continue
        L.append(f'| {name} | {e["params_M"]:.2f} | {e["gmacs"]:.3f} | ' +
                 ' | '.join(fmt(test[k]) for _, k in COLUMNS) +
                 f' | {fmt(val["PCK"])} |')
    L += ['', '| variant | what it is |', '| --- | --- |']
    L += [f'| {n} | {describe(p)} |' for n, p in variants.items()]
    dec = [n for n in variants if n in DECODE_VARIANTS and
           table[n].get('test/mu')]
    if dec:
        L += ['', '## Decode source of the full models', '',
              '| variant | decode | val Mean | test Mean | test Wri | '
              'test PCKh@0.1 |', '| --- | --- | --- | --- | --- | --- |']
        for n in dec:
            for d in DECODE_SOURCES:
                v, t = table[n].get(f'val/{d}'), table[n].get(f'test/{d}')
                if v and t:
                    L.append(f'| {n} | {d} | {fmt(v["PCK"])} | '
                             f'{fmt(t["PCK"])} | {fmt(t["Wrist PCK"])} | '
                             f'{fmt(t["PCK@0.1"])} |')
    diag = [n for n in variants if table[n].get('grad_ratio_median')]
    if diag:
        L += ['', '## Loss balance and sigma (DLM variants)', '',
              '`grad_ratio`: norm of the gradient the weighted H2 term sends '
              'into the backbone\'s outputs over that of the weighted H1 term '
              '(logged every 10 iterations; first / median / last). Sigma: '
              'on the test split, Spearman correlation of the predicted sigma '
              'with the error distance (mean over joints), and the share of '
              'joints within 1, 2, 3 sigma (a calibrated 2-D Gaussian: 39.3, '
              '86.5, 98.9).', '',
              '| variant | grad_ratio first | median | last | chi (last) | '
              'Spearman | within 1σ | 2σ | 3σ |',
              '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
        for n in diag:
            e = table[n]
            t = e.get('test/h1', {})

            def g(key, digits=2):
                return fmt(e[key], digits) if key in e else 'n/a'

            def c(key, digits=1):
                return fmt(t[key], digits) if key in t else 'n/a'
            L.append(f'| {n} | {g("grad_ratio_first", 3)} | '
                     f'{g("grad_ratio_median", 3)} | {g("grad_ratio_last", 3)}'
                     f' | {g("chi_last", 3)} | {c("sigma_spearman", 2)} | '
                     f'{c("sigma_within_1")} | {c("sigma_within_2")} | '
                     f'{c("sigma_within_3")} |')
    failed = [m for e in table.values() for m in e['failed'] if m]
    if failed:
        L += ['', '## Runs that did not finish', ''] + [f'- {m}' for m in failed]
    with open(path, 'w') as f:
        f.write('\n'.join(L) + '\n')


def write_figure(path, table, variants):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(variants)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, n in enumerate(names):
        vals = table[n].get('test/h1', {}).get('PCK', [])
        vals = [v for v in vals if v is not None]
        if vals:
            ax1.bar(i, sum(vals) / len(vals), color='#9ecae1')
            ax1.plot([i] * len(vals), vals, 'o', color='#08519c', ms=4)
    ax1.set_xticks(range(len(names)))
    ax1.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
    ax1.set_ylabel('test PCKh@0.5 (bars: mean, dots: seeds)')
    ax1.set_title('PCKh@0.5 per variant')
    ax1.grid(axis='y', alpha=0.3)
    for i, n in enumerate(names):
        curves = [c for c in table[n]['curves'] if c]
        if not curves:
            continue
        n_pts = min(len(c) for c in curves)
        steps = [curves[0][j][0] for j in range(n_pts)]
        mean = [sum(c[j][1] for c in curves) / len(curves)
                for j in range(n_pts)]
        ax2.plot(steps, mean, label=n, lw=1.2, ls='-' if i < 10 else '--')
    ax2.set_xlabel('iteration')
    ax2.set_ylabel('training-batch PCK of H1 (acc_pose), mean over seeds')
    ax2.set_title('learning curves')
    ax2.grid(alpha=0.3)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--render':
        # re-render ablation.md / .png from an ablation.json
        with open(argv[1]) as f:
            data = json.load(f)
        out_dir = osp.dirname(osp.abspath(argv[1]))
        variants = {n: osp.join(CONFIG_DIR, n + '.py')
                    for n in data['variants']}
        write_markdown(osp.join(out_dir, 'ablation.md'), data['variants'],
                       variants, data['meta'])
        write_figure(osp.join(out_dir, 'ablation.png'), data['variants'],
                     variants)
        return 0
    if argv and argv[0] == '--evaluate':
        config, ckpt, out_json, opts, jobs = argv[1:6]
        evaluate_checkpoint(config, ckpt, json.loads(opts),
                            [tuple(j) for j in json.loads(jobs)], out_json)
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--list', action='store_true', help='list the variants')
    p.add_argument('--variants', nargs='+', default=None,
                   help='names from --list (default: all)')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1])
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--train-images', type=int, default=800)
    p.add_argument('--val-images', type=int, default=150)
    p.add_argument('--test-images', type=int, default=300)
    p.add_argument('--budget-min', type=float, default=90.,
                   help='refuse to start when the estimate exceeds this')
    p.add_argument('--smoke', action='store_true',
                   help='a few iterations of two variants (CI)')
    p.add_argument('--out-dir', default=DEFAULT_OUT)
    p.add_argument('--work-dir', default=None)
    p.add_argument('--data-root', default=None)
    p.add_argument('--jobs', type=int, default=2,
                   help='runs at a time, each with one CPU thread')
    p.add_argument('--resume', action='store_true',
                   help='reuse runs of --work-dir that finished training')
    args = p.parse_args(argv)
    if args.smoke and argv.count('--seeds') == 0:
        args.seeds = [0]

    all_variants = list_variants()
    if args.list:
        for n, path in all_variants.items():
            print(f'{n:28s} {describe(path)}')
        return 0
    names = args.variants or (list(SMOKE_VARIANTS) if args.smoke else
                              list(all_variants))
    unknown = [n for n in names if n not in all_variants]
    if unknown:
        print(f'study: unknown variant(s) {unknown}; known: '
              f'{sorted(all_variants)}', file=sys.stderr)
        return 2
    variants = {n: all_variants[n] for n in names}
    if args.work_dir is None:
        args.work_dir = (osp.join(args.out_dir, 'work') if args.smoke else
                         DEFAULT_WORK)
    if args.data_root is None:
        args.data_root = (osp.join(args.work_dir, 'data') if args.smoke else
                          osp.join(REPO, 'data', 'synthetic_mpii_standard'))
    s = settings(args)
    est = estimate_seconds(variants, s, args.seeds) / 60 / max(1, args.jobs)
    print(f'[study] {len(variants)} variants x {len(args.seeds)} seeds = '
          f'{len(variants) * len(args.seeds)} runs; estimate {est:.0f} min '
          'on the 2-core machine', flush=True)
    if est > args.budget_min:
        print(f'study: the estimate ({est:.0f} min) exceeds --budget-min '
              f'{args.budget_min:.0f}; fewer variants, seeds or images, or a '
              'larger budget', file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)

    def log(msg):
        print(f'[study] {msg}', flush=True)

    t0 = time.time()
    records = []
    total = len(variants) * len(args.seeds)
    lock = threading.Lock()

    def one(job):
        name, path, seed = job
        t_run = time.time()
        rec = run_one(name, path, seed, s, args, log)
        with lock:
            records.append(rec)
            done = len(records)
            elapsed = time.time() - t0
            pck = (rec.get('eval', {}).get('test/h1', {}).get('PCK'))
            log(f'{done}/{total} {name} seed {seed}: {rec["status"]}' +
                (f', test PCKh@0.5 {pck:.2f}' if pck is not None else '') +
                f', {time.time() - t_run:.0f} s; elapsed {elapsed / 60:.1f} '
                f'min, left ~{elapsed / done * (total - done) / 60:.0f} min')
            # the report is rewritten after each run: a study cut short
            # still shows what it did
            write_report(args, argv, s, variants, records, t0)

    # variant by variant (every seed of one before the next), --jobs runs at
    # a time, each single-threaded (on 2 cores two 1-thread runs finish
    # sooner than one 2-thread run after the other)
    jobs = [(n, p, seed) for n, p in variants.items() for seed in args.seeds]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, jobs))
    log(f'wrote {args.out_dir}/ablation.md, .json, .png in '
        f'{(time.time() - t0) / 60:.1f} min')
    return 0 if any(r['status'] == 'ok' for r in records) else 1


def write_report(args, argv, s, variants, records, t0):
    """ablation.json / .md / .png from the runs so far."""
    import datetime
    import platform
    done = {r['variant'] for r in records}
    shown = {n: p for n, p in variants.items() if n in done}
    table = aggregate(records, shown)
    meta = dict(
        command='python benchmarks/ablation/study.py ' + ' '.join(argv),
        commit=git_commit(),
        date=datetime.date.today().isoformat(),
        machine=f'{os.cpu_count()} CPU cores, {platform.machine()}',
        wall_min=(time.time() - t0) / 60, seeds=args.seeds, settings=s,
        complete=len(records) == len(variants) * len(args.seeds))
    with open(osp.join(args.out_dir, 'ablation.json'), 'w') as f:
        json.dump(dict(meta=meta, variants=table, runs=records), f, indent=1)
    write_markdown(osp.join(args.out_dir, 'ablation.md'), table, shown, meta)
    write_figure(osp.join(args.out_dir, 'ablation.png'), table, shown)


if __name__ == '__main__':
    sys.exit(main())
