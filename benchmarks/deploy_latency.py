#!/usr/bin/env python
"""Latency of the exported prediction path: PyTorch eager vs ONNX Runtime.

    python benchmarks/deploy_latency.py [--models tiny hourglass-tiny full]
        [--batches 1 8] [--threads 1 2] [--warmup 2] [--repeats 10]
        [--max-load 0.5] [--out-dir benchmarks/results]

Each model is built from its config with random weights (latency does not
depend on the values), exported by ``sadinet_mmpose.deploy.export`` with a
dynamic batch (opset 17) and timed on random crops at each batch size:

* ``pytorch``: eager ``backbone -> neck -> head.forward`` under
  ``torch.inference_mode`` (the graph that is exported, fp32);
* ``onnxruntime``: the exported file on ONNX Runtime's CPU execution
  provider (graph optimisations at their default, all levels);
* on a machine with CUDA also ``pytorch-cuda`` and, where the installed
  ONNX Runtime offers it, ``onnxruntime-cuda`` (CUDA execution provider).

Each runtime is timed at every thread count of ``--threads`` (default 1
and all cores). ``hourglass-tiny`` is MMPose's own ``HourglassNet`` +
``HeatmapHead`` cut to SADI-Net tiny's size (about 1.2 M parameters at
128x128), a stock model to read SADI-Net's figures against.

One network call per measurement (no crop, flip test or decoding; the flip
test doubles the batch); the runtimes and thread counts take turns call by
call, so that a change of machine load hits all of them alike. Reported:
median and 90th percentile of ``--repeats`` timed calls after ``--warmup``
untimed ones, in milliseconds per call, and images per second from the
median. A loaded machine gives figures of the load, not of the runtimes:
the 1-minute load average is recorded before and after, and the tool
refuses to start above ``--max-load`` (default 0.5; ``--max-load -1``
measures anyway and the page says so). Output: a table on stdout,
``deploy_latency_<device>.md`` and ``.json`` in ``--out-dir``, each with
the command, the commit and the load.
"""
import argparse
import copy
import json
import os
import os.path as osp
import platform
import shlex
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.join(REPO, 'benchmarks') not in sys.path:
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
from benchmark_utils.provenance import git_commit, load_average  # noqa: E402,E501
#: Model labels and their configs.
MODELS = {
    'tiny':
    'configs/synthetic/td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-'
    '128x128.py',
    'full':
    'configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-'
    '256x256.py',
    'hourglass-tiny':
    'benchmarks/configs/td-hm_hourglass-tiny_128x128.py',
    'hourglass52':
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hourglass52_8xb64-210e_mpii-256x256.py',
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.split('\n')[0])
    p.add_argument(
        '--models',
        nargs='+',
        default=['tiny', 'hourglass-tiny', 'full'],
        help=f'labels from {sorted(MODELS)} or LABEL=CONFIG '
        '(default: tiny hourglass-tiny full)')
    p.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument(
        '--threads',
        type=int,
        nargs='+',
        default=None,
        help='CPU thread counts, each runtime timed at every one '
        '(default: 1 and all cores)')
    p.add_argument(
        '--max-load',
        type=float,
        default=0.5,
        help='refuse to start when the 1-minute load average is '
        'above this (default 0.5; -1: measure anyway)')
    p.add_argument(
        '--no-cuda',
        action='store_true',
        help='skip the CUDA rows even where a GPU exists')
    p.add_argument(
        '--out-dir', default=osp.join(REPO, 'benchmarks', 'results'))
    p.add_argument(
        '--tag',
        default=None,
        help="file name tag (default: 'cpu', or 'cuda' with a GPU)")
    return p.parse_args(argv)


def _time(fns: dict, warmup: int, repeats: int) -> dict:
    """Time several callables round-robin (each repeat runs every one once,
    so a change of machine load hits all of them alike).

    Args:
        fns (dict): name -> (call, sync or None).
        warmup (int): Untimed calls of each first.
        repeats (int): Timed calls of each.

    Returns:
        dict: name -> ``median_ms``, ``p90_ms``, ``runs_ms``.
    """
    for call, sync in fns.values():
        for _ in range(warmup):
            call()
        if sync:
            sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (call, sync) in fns.items():
            t0 = time.perf_counter()
            call()
            if sync:
                sync()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {
        name:
        dict(
            median_ms=float(np.median(t)),
            p90_ms=float(np.percentile(t, 90)),
            runs_ms=[round(v, 3) for v in t])
        for name, t in times.items()
    }


def bench_model(label: str, config: str, args, thread_counts: list,
                use_cuda: bool) -> list:
    """Rows of one model: every runtime x thread count x batch."""
    import onnxruntime as ort
    import torch

    from sadinet_mmpose.deploy.export import (PredictionForward, export_onnx,
                                              load_model)
    if not config.startswith('mmpose::') and not osp.isabs(config):
        config = osp.join(REPO, config)
    model = load_model(config)
    params = sum(p.numel() for p in model.parameters())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, f'{label}.onnx')
        t0 = time.perf_counter()
        meta = export_onnx(model, path, dynamic_batch=True)
        export_s = time.perf_counter() - t0
        w, h = meta['input_size']
        net = PredictionForward(model, meta['head'] == 'DLMHead').eval()
        sessions = {}
        for n in thread_counts:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            sessions[('onnxruntime', n)] = ort.InferenceSession(
                path, opts, providers=['CPUExecutionProvider'])
        if use_cuda and 'CUDAExecutionProvider' in \
                ort.get_available_providers():
            sessions[('onnxruntime-cuda', None)] = ort.InferenceSession(
                path, providers=['CUDAExecutionProvider'])
        net_cuda = copy.deepcopy(net).to('cuda') if use_cuda else None
        for batch in args.batches:
            x = torch.randn(
                batch, 3, h, w, generator=torch.Generator().manual_seed(0))
            feeds = {'input': x.numpy()}
            common = dict(
                model=label,
                config=osp.relpath(config, REPO)
                if osp.isabs(config) else config,
                params_m=round(params / 1e6, 2),
                input=f'{h}x{w}',
                batch=batch,
                outputs=meta['outputs'],
                export_s=round(export_s, 1))
            start = len(rows)
            fns = {}
            for n in thread_counts:
                fns[('pytorch',
                     n)] = (lambda n=n:
                            (torch.set_num_threads(n), net(x)), None)
                fns[('onnxruntime', n)] = (lambda sess=sessions[
                    ('onnxruntime', n)]: sess.run(None, feeds), None)
            if ('onnxruntime-cuda', None) in sessions:
                sess = sessions[('onnxruntime-cuda', None)]
                fns[('onnxruntime-cuda',
                     None)] = (lambda: sess.run(None, feeds), None)
            if net_cuda is not None:
                xc = x.to('cuda')
                fns[('pytorch-cuda', None)] = (lambda: net_cuda(xc),
                                               torch.cuda.synchronize)
            with torch.inference_mode():
                timed = _time(fns, args.warmup, args.repeats)
            for (name, n), r in timed.items():
                rows.append(dict(common, runtime=name, threads=n, **r))
            for row in rows[start:]:
                row['img_per_s'] = round(batch / row['median_ms'] * 1e3, 2)
                print(_row_text(row), flush=True)
    return rows


def _row_text(r: dict) -> str:
    return (f"{r['model']:<14s} {r['runtime']:<17s} "
            f"t={r['threads'] or '-'!s:<3s} b={r['batch']:<3d} "
            f"median {r['median_ms']:9.1f} ms  p90 {r['p90_ms']:9.1f} ms  "
            f"{r['img_per_s']:8.2f} img/s")


def render(rows: list, env: dict, command: str) -> str:
    """The markdown page."""
    load = (f"1-minute load average {env['load_before']:.2f} before, "
            f"{env['load_after']:.2f} after")
    if env['max_load'] >= 0:
        load += f" (the tool refuses to start above {env['max_load']})"
    else:
        load += ' (measured without the load check: read with care)'
    lines = [
        '# Deployment latency: PyTorch eager vs ONNX Runtime', '',
        f'Command (from the repository root): `{command}`', '',
        f"Commit {env['commit']}; machine: {env['machine']}; torch "
        f"{env['torch']}, onnxruntime {env['onnxruntime']} "
        f"({', '.join(env['ort_providers'])}); {env['date']}.", '',
        f'Machine load: {load}.', '',
        'One network call (backbone -> neck -> head forward, fp32, '
        'random weights and inputs; no crop, flip test or decoding) per '
        'measurement; median and 90th percentile of '
        f"{env['repeats']} calls after {env['warmup']} warm-up calls; "
        'runtimes and thread counts interleaved call by call.', '',
        '| model | params (M) | input | batch | runtime | threads '
        '| median ms | p90 ms | img/s | vs PyTorch, same threads |',
        '| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: '
        '| ---: |'
    ]
    base = {
        (r['model'], r['batch'], r['threads']): r['median_ms']
        for r in rows if r['runtime'] == 'pytorch'
    }
    for r in rows:
        ref = base.get((r['model'], r['batch'], r['threads']))
        speed = f'{ref / r["median_ms"]:.2f}x' if ref else '-'
        lines.append(
            f"| {r['model']} | {r['params_m']} | {r['input']} | {r['batch']} "
            f"| {r['runtime']} | {r['threads'] or '-'} | "
            f"{r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
            f"{r['img_per_s']:.2f} | {speed} |")
    lines += [
        '', 'Configs: ' +
        '; '.join(sorted({f"{r['model']} = `{r['config']}`"
                          for r in rows})), '',
        '"vs PyTorch" is PyTorch eager CPU median at the same thread count '
        '/ this row\'s median (above 1: faster). Compare rows of one run.', ''
    ]
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    import onnxruntime as ort
    import torch

    import sadinet_mmpose  # noqa: F401
    thread_counts = sorted(set(args.threads or [1, os.cpu_count()]))
    use_cuda = torch.cuda.is_available() and not args.no_cuda
    models = []
    for m in args.models:
        label, _, cfg = m.partition('=')
        if not cfg and label not in MODELS:
            print(
                f'error: unknown model {label!r}; use one of '
                f'{sorted(MODELS)} or LABEL=CONFIG',
                file=sys.stderr)
            return 2
        models.append((label, cfg or MODELS[label]))
    if min(args.batches) < 1 or args.repeats < 1 or args.warmup < 0:
        print(
            'error: --batches and --repeats must be >= 1, --warmup >= 0',
            file=sys.stderr)
        return 2
    load_before = load_average()
    commit = git_commit()
    if 0 <= args.max_load < load_before:
        print(
            f'error: the 1-minute load average is {load_before:.2f}, above '
            f'--max-load {args.max_load}: figures would measure the load. '
            'Wait for the other jobs to finish, or pass --max-load -1 to '
            'measure anyway (the page says so)',
            file=sys.stderr)
        return 3
    rows = []
    for label, cfg in models:
        rows += bench_model(label, cfg, args, thread_counts, use_cuda)
    tag = args.tag or ('cuda' if use_cuda else 'cpu')
    command = 'python benchmarks/deploy_latency.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    env = dict(
        machine=f'{platform.machine()} {platform.processor() or ""} '
        f'{os.cpu_count()} cores'.replace('  ', ' ') +
        (f', {torch.cuda.get_device_name()}' if use_cuda else ''),
        threads=thread_counts,
        torch=torch.__version__,
        onnxruntime=ort.__version__,
        ort_providers=ort.get_available_providers(),
        warmup=args.warmup,
        repeats=args.repeats,
        date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
        commit=commit,
        load_before=load_before,
        load_after=load_average(),
        max_load=args.max_load)
    os.makedirs(args.out_dir, exist_ok=True)
    md = osp.join(args.out_dir, f'deploy_latency_{tag}.md')
    with open(md, 'w') as f:
        f.write(render(rows, env, command.strip()))
    with open(osp.join(args.out_dir, f'deploy_latency_{tag}.json'), 'w') as f:
        json.dump(
            dict(command=command.strip(), env=env, rows=rows), f, indent=1)
        f.write('\n')
    print(f'wrote {md} and its .json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
