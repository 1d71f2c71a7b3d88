"""The ``train`` and ``infer`` modes of ``benchmarks/benchmark.py``."""
import gc
from typing import Callable, Dict, List

import torch

from . import measure
from .models import build_model, load_model_cfg
from .records import make_record

#: mode -> device -> (batch, warm-up, timed calls, precision modes, batches)
DEFAULTS = dict(
    train=dict(
        cuda=(64, 10, 30, 'fp32,fp16,bf16,bf16+cl', None),
        cpu=(2, 1, 2, 'fp32', None)),
    infer=dict(
        cuda=(None, 10, 50, 'fp32,fp16', '1,64'),
        cpu=(None, 1, 3, 'fp32', '1,2')))


def add_arguments(p, mode: str) -> None:
    """The options of ``train`` / ``infer``."""
    p.add_argument(
        '--input-size',
        type=int,
        default=None,
        help="square input side for every config (default: each config's)")
    p.add_argument(
        '--modes',
        default=None,
        help='comma list of precision modes: fp32, fp16, bf16, each '
        "optionally +cl and/or +compile (GPU default "
        f"{DEFAULTS[mode]['cuda'][3]!r}, CPU {DEFAULTS[mode]['cpu'][3]!r})")
    p.add_argument('--warmup', type=int, default=None, help='untimed calls')
    p.add_argument('--iters', type=int, default=None, help='timed calls')
    p.add_argument(
        '--compile-mode', default=None, help='torch.compile mode of +compile')
    p.add_argument('--seed', type=int, default=0)
    if mode == 'infer':
        p.add_argument(
            '--batches',
            default=None,
            help="comma list of batch sizes (GPU '1,64', CPU '1,2')")
        p.add_argument('--flip', choices=['off', 'on', 'both'], default='off')
        return
    p.add_argument('--batch', type=int, default=None)
    p.add_argument(
        '--ref-label',
        default='Hourglass-52',
        help='the model the vs_ref columns divide by (else the first)')
    p.add_argument(
        '--ladder',
        action='store_true',
        help='each model against the one before it instead of the ref')
    p.add_argument(
        '--peak-tflops',
        type=float,
        default=None,
        help='peak matmul rate for the pct_peak column; default: '
        'measured (bf16 8192^3 matmul) on a GPU, none on the CPU')
    p.add_argument('--skip-flops', action='store_true')
    p.add_argument(
        '--train-acc',
        choices=['off', 'config'],
        default='off',
        help="'off': train_cfg.compute_acc=False where the head honours it")


def _settings(args) -> Dict:
    cuda = args.device.startswith('cuda')
    batch, warmup, iters, modes, batches = DEFAULTS[
        args.mode]['cuda' if cuda else 'cpu']
    try:
        modes = [
            measure.parse_mode(t) for t in (args.modes or modes).split(',')
        ]
    except ValueError as e:
        raise SystemExit(f'error: --modes: {e}')
    return dict(
        batch=getattr(args, 'batch', None) or batch,
        warmup=warmup if args.warmup is None else args.warmup,
        iters=iters if args.iters is None else args.iters,
        modes=modes,
        batches=[
            int(b) for b in (
                getattr(args, 'batches', None) or batches or '1').split(',')
        ])


def _cleanup(device: str, compiled: bool) -> None:
    gc.collect()
    if compiled:
        torch._dynamo.reset()
    if device.startswith('cuda'):
        torch.cuda.empty_cache()


def _train_metrics(model_cfg, cfg, mode, st, args, input_size) -> Dict:
    model = build_model(model_cfg, args.device, seed=args.seed)
    try:
        optim_cfg = cfg.get('optim_wrapper',
                            dict(optimizer=dict(type='Adam', lr=1e-3)))
        step = measure.setup_train_step(
            model,
            model_cfg,
            optim_cfg,
            mode,
            st['batch'],
            input_size,
            args.device,
            seed=args.seed,
            compute_acc=args.train_acc != 'off',
            compile_mode=args.compile_mode)
        return measure.time_train(step, st['batch'], st['warmup'],
                                  st['iters'], args.device,
                                  measure.MemoryMeter(args.device))
    finally:
        del model
        _cleanup(args.device, mode.compile)


def _infer_metrics(model_cfg, mode, batch, flip, st, args, input_size) -> Dict:
    model = build_model(model_cfg, args.device, seed=args.seed)
    try:
        fn = measure.setup_predict(model, model_cfg, mode, batch, input_size,
                                   args.device, flip, args.seed,
                                   args.compile_mode)
        sync = (lambda: measure.synchronize(args.device))
        ms = measure.time_calls(
            dict(call=fn), st['warmup'], st['iters'], sync)['call']
        out = measure.summary(ms)
        out['img_s'] = batch / out['ms'] * 1e3
        return out
    finally:
        del model
        _cleanup(args.device, mode.compile)


def _relative(recs: List[Dict], args) -> None:
    """``tflops`` and the ``*_vs_ref`` ratios of the training records."""
    for r in recs:
        m = r['metrics']
        if m.get('gmacs') and m.get('img_s'):
            m['tflops'] = m['img_s'] * m['gmacs'] * 2 * 3 / 1e3
            if args.peak:
                m['pct_peak'] = 100 * m['tflops'] / args.peak
    labels = list(dict.fromkeys(r['model'] for r in recs))
    for r in recs:
        if args.ladder:
            i = labels.index(r['model'])
            ref = labels[i - 1] if i else None
        else:
            ref = args.ref_label if args.ref_label in labels else labels[0]
        base = next((b['metrics'] for b in recs
                     if b['model'] == ref and b['setting'] == r['setting']),
                    {})
        for key in ('img_s', 'tflops'):
            if r['metrics'].get(key) and base.get(key):
                r['metrics'][f'{key}_vs_{"prev" if args.ladder else "ref"}'] \
                    = r['metrics'][key] / base[key]


def run(args, env: Dict, save: Callable, log: Callable) -> int:
    """Measure every config; ``save`` gets each config's records."""
    st = _settings(args)
    args.peak = getattr(args, 'peak_tflops', None)
    if args.mode == 'train' and args.peak is None and \
            args.device.startswith('cuda'):
        args.peak = measure.measure_peak_tflops(args.device)['tflops']
    failed, done = 0, []
    for spec in args.configs:
        try:
            cfg, model_cfg, input_size = load_model_cfg(
                spec.config, args.input_size)
            model = build_model(model_cfg, args.device, args.seed)
            size = dict(params_m=measure.count_params(model) / 1e6)
            if args.mode == 'train' and not args.skip_flops:
                size['gmacs'] = measure.count_macs(model, input_size,
                                                   args.device) / 1e9
            del model
        except Exception as e:  # noqa: BLE001 (an error record)
            failed += 1
            save([
                make_record(spec.label, args.mode, 'build',
                            dict(error=measure.short_error(e)), env)
            ])
            continue
        recs = []
        if args.mode == 'train':
            cases = [(m, st['batch'], None) for m in st['modes']]
        else:
            flips = dict(off=[False], on=[True], both=[False, True])
            cases = [(m, b, f) for m in st['modes'] for b in st['batches']
                     for f in flips[args.flip]]
        for mode, batch, flip in cases:
            setting = f'{mode.name} b{batch}' + (' flip' if flip else '')
            try:
                if args.mode == 'train':
                    metrics = _train_metrics(model_cfg, cfg, mode, st, args,
                                             input_size)
                else:
                    metrics = _infer_metrics(model_cfg, mode, batch, flip, st,
                                             args, input_size)
            except Exception as e:  # noqa: BLE001 (an error record)
                failed += 1
                metrics = dict(error=measure.short_error(e))
            log(f'[{spec.label}] {args.mode} {setting}: {metrics}')
            recs.append(
                make_record(spec.label, args.mode, setting,
                            dict(size, **metrics), env))
        done += recs
        if args.mode == 'train':
            _relative(done, args)
        save(recs)
    return 1 if failed else 0
