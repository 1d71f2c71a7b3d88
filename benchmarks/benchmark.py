"""Benchmark SADI-Net against stock MMPose models, side by side in one process.

For each config, the model is built from the config and fed
random inputs with MMPose-style data samples (targets made by the config's own
codec). Measured: parameters, GMACs (mmengine's counter), training images/s
for each ``--train-modes`` entry (fp32, fp16, bf16, ``+cl`` channels_last,
``+compile``), peak memory, inference latency at ``--latency-batches``, the
training FLOP rate and its ratio to a reference model (default Hourglass-52),
and the share of the peak matmul rate the best mode reaches.

Output: a markdown report printed and written atomically to ``--out`` (a
different existing file is kept as ``<out>.prev``), and the raw numbers as
JSON (``--json``, same rule).

Examples::

    # CPU, small (for ratios only)
    python benchmarks/benchmark.py --input-size 128
    # one GPU, full
    python benchmarks/benchmark.py --device cuda --batch 64 \
        --train-modes fp32,fp16,bf16,bf16+cl,bf16+cl+compile \
        --infer-modes fp32,fp16 --latency-batches 1,64
"""
import argparse
import copy
import datetime
import gc
import os
import os.path as osp
import platform
import shlex
import sys
import traceback
from typing import Dict, List, Optional

_HERE = osp.dirname(osp.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
if osp.dirname(_HERE) not in sys.path:
    sys.path.insert(0, osp.dirname(_HERE))

import torch  # noqa: E402

from benchmark_utils.models import (  # noqa: E402
    DEFAULT_CONFIGS,
    REPO_ROOT,  # noqa: E402
    ModelSpec,
    build_model,
    import_plugin,
    load_model_cfg,
    parse_config_spec)

PLUGIN_ERROR = import_plugin()  # before mmpose.models; errors are reported

from benchmark_utils import measure, report  # noqa: E402
from benchmark_utils.provenance import git_commit  # noqa: E402
from benchmark_utils.measure import Mode, parse_mode, short_error  # noqa: E402

GPU_DEFAULTS = dict(
    batch=64,
    warmup=10,
    iters=30,
    latency_warmup=10,
    latency_iters=50,
    train_modes='fp32,fp16,bf16,bf16+cl',
    infer_modes='fp32,fp16',
    latency_batches='1,64')
CPU_DEFAULTS = dict(
    batch=2,
    warmup=1,
    iters=2,
    latency_warmup=1,
    latency_iters=3,
    train_modes='fp32',
    infer_modes='fp32',
    latency_batches='1,2')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line interface (defaults depend on the device; see --help)."""
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument(
        '--configs',
        nargs='+',
        default=None,
        metavar='[LABEL=]CONFIG',
        help='configs to compare, each optionally labelled (label=path); '
        'mmpose:: paths allowed. Default: ' +
        ', '.join(f'{lbl}={c}' for lbl, c in DEFAULT_CONFIGS))
    p.add_argument(
        '--device',
        default='auto',
        help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:N'")
    p.add_argument(
        '--batch',
        type=int,
        default=None,
        help='training batch size (default 64 on GPU, 2 on CPU)')
    p.add_argument(
        '--input-size',
        type=int,
        default=None,
        help='square input side overriding every config (codec '
        'heatmap sizes scaled alike); default: each config\'s own')
    p.add_argument(
        '--warmup',
        type=int,
        default=None,
        help='training warm-up steps (default 10 GPU, 1 CPU)')
    p.add_argument(
        '--iters',
        type=int,
        default=None,
        help='timed training steps (default 30 GPU, 2 CPU)')
    p.add_argument(
        '--train-modes',
        default=None,
        help='comma list of training modes: fp32, fp16, bf16, '
        'optionally +cl (channels_last) and/or +compile '
        "(torch.compile of the backbone), e.g. 'fp32,bf16,bf16+cl'"
        "; 'none' to skip "
        f"(default GPU {GPU_DEFAULTS['train_modes']!r}, CPU "
        f"{CPU_DEFAULTS['train_modes']!r})")
    p.add_argument(
        '--infer-modes',
        default=None,
        help='comma list of inference modes (same syntax); '
        "'none' to skip latency (default GPU 'fp32,fp16', CPU "
        "'fp32')")
    p.add_argument(
        '--latency-batches',
        default=None,
        help="comma list of inference batch sizes (default GPU "
        "'1,64', CPU '1,2')")
    p.add_argument(
        '--flip',
        choices=['off', 'on', 'both'],
        default='off',
        help='flip test in the latency measurement')
    p.add_argument(
        '--latency-warmup',
        type=int,
        default=None,
        help='latency warm-up calls (default 10 GPU, 1 CPU)')
    p.add_argument(
        '--latency-iters',
        type=int,
        default=None,
        help='latency calls, the median is reported (default 50 '
        'GPU, 3 CPU)')
    p.add_argument(
        '--train-acc',
        choices=['off', 'config'],
        default='off',
        help="'off': train_cfg.compute_acc=False where the head "
        "honours it (stock CPMHead ignores it); 'config': as the "
        'configs say')
    p.add_argument(
        '--compile-mode',
        default=None,
        choices=[
            'default', 'reduce-overhead', 'max-autotune',
            'max-autotune-no-cudagraphs'
        ],
        help='torch.compile mode for +compile modes')
    p.add_argument(
        '--peak-tflops',
        type=float,
        default=None,
        help='peak matmul rate (TFLOP/s) for the %% of peak column;'
        ' default: measure it (bf16 8192^3 matmul on GPU, fp32 '
        '1024^3 on CPU); 0 to skip')
    p.add_argument(
        '--ref-label',
        default='Hourglass-52',
        help='label of the reference model for the ratio columns '
        '(the first model if absent)')
    p.add_argument(
        '--ladder',
        action='store_true',
        help='marginal-cost table: each model against the one '
        'before it in --configs (default: every larger model '
        'against the reference)')
    p.add_argument(
        '--skip-flops',
        action='store_true',
        help='do not count FLOPs (no TFLOP/s columns then)')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: 1 on CPU, which is '
        'robust on a shared machine; torch\'s own with CUDA)')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument(
        '--out',
        default=None,
        help='markdown output (default benchmarks/results/cuda.md on '
        'CUDA, benchmarks/results/cpu.md on CPU); a different existing '
        'file is kept as <out>.prev')
    p.add_argument(
        '--json',
        default=None,
        help='raw numbers as JSON (default: --out with .json)')
    p.add_argument(
        '--no-write', action='store_true', help='print only, write no files')
    p.add_argument(
        '--render-json',
        default=None,
        metavar='JSON',
        help='measure nothing: re-render the markdown of a JSON '
        'written by an earlier run (printed, and written to --out '
        'if given)')
    return p.parse_args(argv)


def resolve_settings(args: argparse.Namespace) -> Dict:
    """Fill device-dependent defaults; validate modes."""
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda asked but CUDA is not available')
    cuda = device.startswith('cuda')
    d = GPU_DEFAULTS if cuda else CPU_DEFAULTS

    def pick(name):
        value = getattr(args, name)
        return d[name] if value is None else value

    def modes(text):
        if text.strip().lower() in ('', 'none'):
            return []
        out = []
        for t in text.split(','):
            mode = parse_mode(t)
            if mode.name not in [m.name for m in out]:
                out.append(mode)
        return out

    try:
        train_modes = modes(pick('train_modes'))
        infer_modes = modes(pick('infer_modes'))
        batches = [
            int(b) for b in str(pick('latency_batches')).split(',')
            if b.strip()
        ]
    except ValueError as e:
        raise SystemExit(f'error: {e}')
    flips = {'off': [False], 'on': [True], 'both': [False, True]}[args.flip]
    out = args.out or osp.join(REPO_ROOT, 'benchmarks', 'results',
                               'cuda.md' if cuda else 'cpu.md')
    json_path = args.json or osp.splitext(out)[0] + '.json'
    return dict(
        device=device,
        cuda=cuda,
        batch=pick('batch'),
        input_size=args.input_size,
        warmup=pick('warmup'),
        iters=pick('iters'),
        train_modes=train_modes,
        infer_modes=infer_modes,
        latency_batches=batches,
        flips=flips,
        latency_warmup=pick('latency_warmup'),
        latency_iters=pick('latency_iters'),
        train_acc=args.train_acc,
        compile_mode=args.compile_mode,
        peak_tflops=args.peak_tflops,
        ref_label=args.ref_label,
        ladder=args.ladder,
        skip_flops=args.skip_flops,
        seed=args.seed,
        out=out,
        json=json_path)


def _cleanup(device: str, compiled: bool = False) -> None:
    gc.collect()
    if compiled:
        try:
            torch._dynamo.reset()
        except Exception:  # noqa: BLE001 (best effort)
            pass
    if str(device).startswith('cuda'):
        torch.cuda.empty_cache()


def bench_train_mode(model_cfg: Dict, optim_cfg: Dict, mode: Mode, st: Dict,
                     input_size, memory_kind_out: Dict) -> Dict:
    """One training mode of one model, from a freshly built model."""
    device = st['device']
    model = build_model(model_cfg, device, seed=st['seed'])
    try:
        step = measure.setup_train_step(
            model,
            model_cfg,
            optim_cfg,
            mode,
            st['batch'],
            input_size,
            device,
            seed=st['seed'],
            compute_acc=st['train_acc'] != 'off',
            compile_mode=st['compile_mode'])
        meter = measure.MemoryMeter(device)
        memory_kind_out['kind'] = meter.kind
        result = measure.time_train(
            step, st['batch'], st['warmup'], st['iters'], device, memory=meter)
        return result
    finally:
        del model
        _cleanup(device, compiled=mode.compile)


def bench_latency(base_model, model_cfg: Dict, mode: Mode, batch: int,
                  flip: bool, st: Dict, input_size) -> Dict:
    """Latency of one inference mode / batch / flip setting."""
    device = st['device']
    fresh = mode.channels_last or mode.compile
    model = build_model(model_cfg, device, st['seed']) if fresh else base_model
    try:
        fn = measure.setup_predict(
            model,
            model_cfg,
            mode,
            batch,
            input_size,
            device,
            flip,
            seed=st['seed'],
            compile_mode=st['compile_mode'])
        result = measure.time_latency(fn, st['latency_warmup'],
                                      st['latency_iters'], device)
        return result
    finally:
        if fresh:
            del model
            _cleanup(device, compiled=mode.compile)


def bench_model(spec: ModelSpec,
                st: Dict,
                memory_kind: Dict,
                log=print) -> Dict:
    """All part-1 measurements of one config; errors become fields."""
    row = dict(
        label=spec.label,
        config=spec.config,
        status='ok',
        error=None,
        errors=[],
        warnings=[],
        train={},
        latency={})
    device = st['device']
    try:
        cfg, model_cfg, input_size = load_model_cfg(spec.config,
                                                    st['input_size'])
        row['input_size'] = list(input_size)
        model = build_model(model_cfg, device, st['seed'])
    except Exception as e:  # noqa: BLE001 (reported as an error row)
        row.update(status='error', error=short_error(e))
        row['errors'].append('build: ' + short_error(e, 1000))
        log(f'[{spec.label}] build failed: {short_error(e)}')
        return row
    optim_cfg = cfg.get('optim_wrapper',
                        dict(optimizer=dict(type='Adam', lr=1e-3)))
    row['optimizer'] = copy.deepcopy(dict(optim_cfg)).get('optimizer')
    row['params'] = measure.count_params(model)
    log(f"[{spec.label}] built: {row['params'] / 1e6:.2f} M params, "
        f'input {input_size}')
    if not st['skip_flops']:
        try:
            row['macs'] = measure.count_macs(model, input_size, device)
            log(f"[{spec.label}] {row['macs'] / 1e9:.2f} GMACs")
        except Exception as e:  # noqa: BLE001
            row['errors'].append('FLOPs: ' + short_error(e, 1000))
    for mode in st['infer_modes']:
        for batch in st['latency_batches']:
            for flip in st['flips']:
                key = report.latency_key(batch, mode.name, flip)
                try:
                    row['latency'][key] = bench_latency(
                        model, model_cfg, mode, batch, flip, st, input_size)
                    log(f"[{spec.label}] infer {key}: "
                        f"{row['latency'][key]['ms']:.1f} ms")
                except Exception as e:  # noqa: BLE001
                    row['latency'][key] = dict(error=short_error(e))
                    row['errors'].append(f'infer {key}: ' +
                                         short_error(e, 1000))
                    log(f'[{spec.label}] infer {key} failed: '
                        f'{short_error(e)}')
    del model
    _cleanup(device)
    for mode in st['train_modes']:
        try:
            t = bench_train_mode(model_cfg, optim_cfg, mode, st, input_size,
                                 memory_kind)
            if not t['finite']:
                row['warnings'].append(f'train {mode.name}: non-finite loss '
                                       f"{t['loss']}")
            row['train'][mode.name] = t
            log(f"[{spec.label}] train {mode.name}: {t['img_s']:.1f} img/s, "
                f"peak {t['peak_gib']:.2f} GiB, loss {t['loss']:.4g}")
        except Exception as e:  # noqa: BLE001
            row['train'][mode.name] = dict(error=short_error(e))
            row['errors'].append(f'train {mode.name}: ' + short_error(e, 1000))
            log(f'[{spec.label}] train {mode.name} failed: {short_error(e)}')
            if os.environ.get('SADINET_BENCHMARK_DEBUG'):
                traceback.print_exc()
    return row


def add_derived(results: Dict) -> None:
    """TFLOP/s, ratios against the reference model, best mode."""
    models = results['models']
    ref_label = results['meta']['ref_label']
    ok = [m for m in models if m['status'] == 'ok']
    ref = next((m for m in ok if m['label'] == ref_label), None)
    if ref is None and ok:
        ref = ok[0]
    results['meta']['ref_label'] = ref['label'] if ref else None
    for m in models:
        macs = m.get('macs')
        for t in m.get('train', {}).values():
            if t.get('error'):
                continue
            t['tflops'] = (t['img_s'] * macs * 2 * 3 / 1e12 if macs else None)
        best = [(t['img_s'], name) for name, t in m.get('train', {}).items()
                if not t.get('error')]
        m['best_mode'] = max(best)[1] if best else None
    for m in models:
        for name, t in m.get('train', {}).items():
            r = (ref or {}).get('train', {}).get(name, {})
            if t.get('error') or not r or r.get('error'):
                continue
            t['img_s_vs_ref'] = t['img_s'] / r['img_s']
            if t.get('tflops') and r.get('tflops'):
                t['tflops_vs_ref'] = t['tflops'] / r['tflops']


def environment_meta(st: Dict, argv: List[str]) -> Dict:
    """Device name, versions, flags, command line and date."""
    import mmengine
    import mmpose
    try:
        import mmcv
        mmcv_version = mmcv.__version__
    except Exception:  # noqa: BLE001
        mmcv_version = 'n/a'
    cuda = st['cuda']
    if cuda:
        name = torch.cuda.get_device_name(torch.device(st['device']))
    else:
        name = f'CPU ({platform.processor() or platform.machine()}, ' \
               f'{os.cpu_count()} cores)'
    flags = (f'cudnn.benchmark={torch.backends.cudnn.benchmark}, '
             f'cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, '
             f'matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}'
             if cuda else 'CPU (no cuDNN)')
    settings = {
        k: v
        for k, v in st.items() if k not in ('train_modes', 'infer_modes')
    }
    settings['train_modes'] = [m.name for m in st['train_modes']]
    settings['infer_modes'] = [m.name for m in st['infer_modes']]
    settings['input_size_text'] = (
        f"{st['input_size']}x{st['input_size']} (all configs)"
        if st['input_size'] else "each config's own")
    return dict(
        device=st['device'],
        device_name=name,
        cuda=cuda,
        torch=torch.__version__,
        cuda_version=torch.version.cuda if cuda else None,
        cudnn=torch.backends.cudnn.version() if cuda else None,
        mmpose=mmpose.__version__,
        mmengine=mmengine.__version__,
        mmcv=mmcv_version,
        python=platform.python_version(),
        threads=torch.get_num_threads(),
        command=' '.join(shlex.quote(a) for a in ['python'] + list(argv)),
        commit=git_commit(),
        date=datetime.datetime.now().astimezone().isoformat(
            timespec='seconds'),
        backend_flags=flags,
        settings=settings,
        ref_label=st['ref_label'],
        latency_keys=[
            report.latency_key(b, m.name, f) for m in st['infer_modes']
            for b in st['latency_batches'] for f in st['flips']
        ])


def run_benchmark(specs: List[ModelSpec],
                  st: Dict,
                  argv: Optional[List[str]] = None,
                  log=print) -> Dict:
    """Measure every model and return the results dict."""
    if st['cuda']:
        torch.backends.cudnn.benchmark = True
        if torch.device(st['device']).index is not None:
            torch.cuda.set_device(torch.device(st['device']))
    results = dict(meta=environment_meta(st, argv or sys.argv), models=[])
    if import_plugin():
        results['meta']['plugin_error'] = import_plugin()
        log(f'warning: sadinet_mmpose failed to import: {import_plugin()}')
    memory_kind = dict(kind=measure.MemoryMeter(st['device']).kind)
    with measure.float32_to_numpy() as patched:
        results['meta']['patched_to_numpy'] = patched
        for spec in specs:
            results['models'].append(bench_model(spec, st, memory_kind, log))
    results['meta']['memory_kind'] = memory_kind['kind']
    peak = st['peak_tflops']
    if peak is None:
        try:
            results['meta']['peak'] = measure.measure_peak_tflops(st['device'])
            log(f"peak matmul: {results['meta']['peak']['tflops']:.2f} "
                'TFLOP/s')
        except Exception as e:  # noqa: BLE001
            results['meta']['peak'] = dict(error=short_error(e))
    elif peak > 0:
        results['meta']['peak'] = dict(tflops=peak, given=True)
    add_derived(results)
    return results


def write_outputs(results: Dict, st: Dict, log=print) -> None:
    """Write the markdown and JSON files (keeping different old ones)."""
    for path, text in ((st['out'], report.render_markdown(results)),
                       (st['json'], report.dump_json(results))):
        kept = report.write_atomic(path, text)
        log(f'wrote {path}' +
            (f' (previous version kept as {kept})' if kept else ''))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.render_json:
        import json
        with open(args.render_json, encoding='utf-8') as f:
            text = report.render_markdown(json.load(f))
        print(text)
        if args.out and not args.no_write:
            kept = report.write_atomic(args.out, text)
            print(
                f'wrote {args.out}' +
                (f' (previous version kept as {kept})' if kept else ''),
                file=sys.stderr)
        return 0
    st = resolve_settings(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    elif not st['cuda']:
        # one thread: OpenMP threads spin badly on a shared CPU machine
        torch.set_num_threads(1)
    specs = ([parse_config_spec(c) for c in args.configs] if args.configs else
             [ModelSpec(lbl, c) for lbl, c in DEFAULT_CONFIGS])

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = run_benchmark(
        specs,
        st, [sys.argv[0]] + list(sys.argv[1:] if argv is None else argv),
        log=log)
    print(report.render_markdown(results))
    if not args.no_write:
        write_outputs(results, st, log=log)
    return 0


if __name__ == '__main__':
    sys.exit(main())
