"""The ``onnx`` mode of ``benchmarks/benchmark.py``: the exported prediction
path, PyTorch eager against ONNX Runtime.

Each model is exported by ``sadinet_mmpose.deploy.export`` with a dynamic
batch and timed on random crops at each batch size: ``pytorch`` (eager
``backbone -> neck -> head.forward``, the exported graph) and
``onnxruntime`` (CPU execution provider) at every ``--thread-counts``
entry, plus ``pytorch-cuda`` and ``onnxruntime-cuda`` where a GPU and that
provider exist. One network call per measurement (no crop, flip test or
decoding); all runtimes take turns call by call. The tool refuses to start
above ``--max-load`` (1-minute load average), which a shared machine
would turn into figures of the load.
"""
import copy
import os
import os.path as osp
import tempfile
import time
from typing import Callable, Dict

from . import measure
from .models import REPO_ROOT
from .provenance import load_average
from .records import make_record

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


def add_arguments(p, mode: str) -> None:
    """The options of ``onnx``."""
    p.add_argument(
        '--models',
        nargs='+',
        default=['tiny', 'hourglass-tiny', 'full'],
        help=f'labels of {sorted(MODELS)} or LABEL=CONFIG')
    p.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument(
        '--thread-counts',
        type=int,
        nargs='+',
        default=None,
        help='CPU thread counts, each runtime at every one (default: 1 '
        'and all cores)')
    p.add_argument(
        '--max-load',
        type=float,
        default=0.5,
        help='refuse to start above this load average (-1: measure anyway)')
    p.add_argument('--no-cuda', action='store_true')


def _export(label, config, counts, use_cuda):
    """Export ``config`` once; its runtimes and fixed metrics.

    Returns:
        tuple: A function of the batch size giving the timed callables of
        each runtime, and the model's fixed metrics.
    """
    import onnxruntime as ort
    import torch

    from sadinet_mmpose.deploy.export import (PredictionForward, export_onnx,
                                              load_model)
    if not config.startswith('mmpose::') and not osp.isabs(config):
        config = osp.join(REPO_ROOT, config)
    model = load_model(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, f'{label}.onnx')
        t0 = time.perf_counter()
        meta = export_onnx(model, path, dynamic_batch=True)
        fixed = dict(
            params_m=sum(p.numel() for p in model.parameters()) / 1e6,
            export_s=time.perf_counter() - t0)
        sessions = {}
        for n in counts:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            sessions[n] = ort.InferenceSession(
                path, opts, providers=['CPUExecutionProvider'])
        cuda_sess = (
            ort.InferenceSession(path, providers=['CUDAExecutionProvider'])
            if use_cuda
            and 'CUDAExecutionProvider' in ort.get_available_providers() else
            None)
    w, h = meta['input_size']
    net = PredictionForward(model, meta['head'] == 'DLMHead').eval()
    net_cuda = copy.deepcopy(net).to('cuda') if use_cuda else None

    def fns_at(batch):
        x = torch.randn(
            batch, 3, h, w, generator=torch.Generator().manual_seed(0))
        feeds = {'input': x.numpy()}
        fns = {}
        for n in counts:
            fns[('pytorch', n)] = (lambda n=n:
                                   (torch.set_num_threads(n), net(x)))
            fns[('onnxruntime',
                 n)] = (lambda s=sessions[n]: s.run(None, feeds))
        if cuda_sess is not None:
            fns[('onnxruntime-cuda',
                 None)] = (lambda: cuda_sess.run(None, feeds))
        if net_cuda is not None:
            xc = x.to('cuda')
            fns[('pytorch-cuda', None)] = (lambda: net_cuda(xc))
        return fns

    return fns_at, fixed


def run(args, env: Dict, save: Callable, log: Callable) -> int:
    """Time every model x batch; ``save`` gets each one's records."""
    import torch
    counts = sorted(set(args.thread_counts or [1, os.cpu_count()]))
    use_cuda = torch.cuda.is_available() and not args.no_cuda
    load = load_average()
    if 0 <= args.max_load < load:
        raise SystemExit(
            f'error: the 1-minute load average is {load:.2f}, above '
            f'--max-load {args.max_load}: figures would measure the load '
            '(--max-load -1 measures anyway)')
    for item in args.models:
        label, _, config = item.partition('=')
        if not config and label not in MODELS:
            raise SystemExit(f'error: unknown model {label!r}; use one of '
                             f'{sorted(MODELS)} or LABEL=CONFIG')
        fns_at, fixed = _export(label, config or MODELS[label], counts,
                                use_cuda)
        for batch in args.batches:
            sync = torch.cuda.synchronize if use_cuda else None
            with torch.inference_mode():
                times = measure.time_calls(
                    fns_at(batch), args.warmup, args.repeats, sync)
            recs = []
            for (runtime, n), ms in times.items():
                m = measure.summary(ms)
                m['img_s'] = batch / m['ms'] * 1e3
                m['load_avg'] = load_average()
                recs.append(
                    make_record(
                        label,
                        'onnx',
                        f'{runtime} b{batch}',
                        dict(fixed, **m),
                        env,
                        threads=n))
                log(f'[{label}] {runtime} b{batch} x{n}: {m["ms"]:.2f} ms')
            save(recs)
    return 0
