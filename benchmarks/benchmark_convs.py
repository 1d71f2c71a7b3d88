"""Time each distinct convolution of a model alone; dilated ones two ways.

One forward of the config's model at the input size records the input shape
of every ``nn.Conv2d``. For each distinct layer (channels, kernel, stride,
dilation, padding, input size) a training pass of that layer alone (forward,
then the input and weight gradients) is timed at ``--batch`` in each
``--modes`` entry (fp32, bf16, ``+cl`` channels_last):

- ``native``: ``nn.Conv2d`` as the model's layer is configured;
- ``undilated twin``: dilated layers with dilation 1 (different maths: the
  speed the same shape gets from the undilated kernels, a reference).

The table shows each layer's calls per step, GFLOP per pass and the ms and
TFLOP/s of each form; the totals weigh each layer by its calls per training
step: do the dilated branches cost more than their FLOPs? The report is
printed and written atomically to ``--out`` (a different old file kept as
``.prev``), the numbers to JSON.

Examples::

    python benchmarks/benchmark_convs.py                      # CPU, batch 2
    python benchmarks/benchmark_convs.py --device cuda        # batch 64
"""
import argparse
import datetime
import os.path as osp
import platform
import shlex
import sys
from typing import Dict, List, Optional

_HERE = osp.dirname(osp.abspath(__file__))
for _p in (_HERE, osp.dirname(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from benchmark_utils.models import (REPO_ROOT, build_model,  # noqa: E402
                                    import_plugin, load_model_cfg)

import_plugin()

from benchmark_utils import measure, report  # noqa: E402

DEFAULT_CONFIG = 'configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py'
FORMS = ('native', 'undilated twin')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--config', default=DEFAULT_CONFIG, help='model config')
    p.add_argument('--device', default='auto',
                   help="'auto' (cuda if available), 'cpu', 'cuda'")
    p.add_argument('--batch', type=int, default=None,
                   help='batch of each timed pass (default 64 GPU, 2 CPU)')
    p.add_argument('--input-size', type=int, default=None,
                   help="square model input (default: the config's)")
    p.add_argument('--modes', default=None,
                   help="comma list (default GPU 'fp32,bf16+cl', CPU 'fp32')")
    p.add_argument('--warmup', type=int, default=None,
                   help='warm-up passes per layer (default 5 GPU, 1 CPU)')
    p.add_argument('--iters', type=int, default=None,
                   help='timed passes per layer, median reported (default '
                   '20 GPU, 3 CPU)')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads on CPU')
    p.add_argument('--out', default=None,
                   help='markdown output (default benchmarks/results/convs_cuda.md '
                   'on CUDA, benchmarks/results/convs_cpu.md on CPU)')
    p.add_argument('--json', default=None,
                   help='JSON output (default: --out with .json)')
    p.add_argument('--no-write', action='store_true', help='print only')
    return p.parse_args(argv)


def layer_key(conv: nn.Conv2d, shape) -> tuple:
    """A conv layer's configuration and input size (C, H, W)."""
    pad = conv.padding if isinstance(conv.padding, str) else tuple(
        conv.padding)
    return (conv.in_channels, conv.out_channels, tuple(conv.kernel_size),
            tuple(conv.stride), tuple(conv.dilation), pad, conv.groups,
            conv.bias is not None, tuple(shape[-2:]))


def collect_layers(model: nn.Module, input_size, device: str) -> List[Dict]:
    """Distinct conv layers of one forward of ``model._forward``.

    Returns:
        list[dict]: ``key`` (see :func:`layer_key`), ``count`` (calls per
        forward), ``out_hw``, ``name`` (the first module with that key),
        in first-call order.
    """
    seen: Dict[tuple, Dict] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            def hook(mod, args, out, name=name):
                key = layer_key(mod, args[0].shape)
                entry = seen.setdefault(key, dict(key=key, count=0, name=name,
                                                  out_hw=tuple(out.shape[-2:])))
                entry['count'] += 1
            hooks.append(m.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            model._forward(torch.zeros(1, 3, *input_size, device=device))
    finally:
        for h in hooks:
            h.remove()
    return list(seen.values())


def make_conv(key: tuple, form: str) -> Optional[nn.Conv2d]:
    """The layer in one form (None where the form does not apply)."""
    cin, cout, k, stride, dil, pad, groups, bias, _ = key
    dilated = max(dil) > 1
    if form == 'native':
        return nn.Conv2d(cin, cout, k, stride, pad, dil, groups, bias)
    if not dilated:
        return None
    twin_pad = tuple((kk - 1) // 2 for kk in k)
    return nn.Conv2d(cin, cout, k, stride, twin_pad, 1, groups, bias)


def pass_flops(key: tuple, out_hw, batch: int) -> float:
    """FLOPs of forward + input gradient + weight gradient of one pass."""
    cin, cout, k, _, _, _, groups, _, _ = key
    macs = batch * cout * out_hw[0] * out_hw[1] * cin // groups * k[0] * k[1]
    return 2.0 * 3 * macs


def time_form(conv: nn.Module, key: tuple, mode, batch: int, device: str,
              warmup: int, iters: int) -> float:
    """Median ms of forward + input/weight gradients of ``conv`` alone."""
    cin, h, w = key[0], key[-1][0], key[-1][1]
    conv = conv.to(device)
    x = torch.randn(batch, cin, h, w, device=device)
    if mode.channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    with measure.autocast_ctx(device, mode):
        grad = torch.randn_like(conv(x))

    def fn():
        with measure.autocast_ctx(device, mode):
            y = conv(x)
        torch.autograd.grad(y, (x, conv.weight), grad)

    return measure.time_latency(fn, warmup, iters, device)['ms']


def run(args: argparse.Namespace, argv: List[str], log=print) -> Dict:
    """Measure every layer in every mode; the results dict."""
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cuda = device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda asked but CUDA is not available')
    if cuda:
        torch.backends.cudnn.benchmark = True
    batch = args.batch or (64 if cuda else 2)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    iters = args.iters or (20 if cuda else 3)
    try:
        modes = [measure.parse_mode(m) for m in (
            args.modes or ('fp32,bf16+cl' if cuda else 'fp32')).split(',')]
    except ValueError as e:
        raise SystemExit(f'error: --modes: {e}') from e
    bad = [m.name for m in modes if m.compile or m.graph]
    if bad:
        raise SystemExit(f'error: modes {bad}: only precision and +cl here')
    try:
        _, model_cfg, input_size = load_model_cfg(args.config,
                                                  args.input_size)
    except (OSError, ValueError, SyntaxError) as e:
        raise SystemExit(f'error: --config: {e}') from e
    model = build_model(model_cfg, device)
    layers = collect_layers(model, input_size, device)
    del model
    log(f'{len(layers)} distinct conv layers, '
        f"{sum(e['count'] for e in layers)} calls per forward")
    for e in layers:
        e['gflop'] = pass_flops(e['key'], e['out_hw'], batch) / 1e9
        e['ms'] = {}
        for mode in modes:
            e['ms'][mode.name] = {}
            for form in FORMS:
                conv = make_conv(e['key'], form)
                if conv is None:
                    continue
                torch.manual_seed(0)
                e['ms'][mode.name][form] = time_form(
                    conv, e['key'], mode, batch, device, warmup, iters)
            log(f"{e['name']} {mode.name}: " + ', '.join(
                f'{f} {ms:.3f} ms' for f, ms in e['ms'][mode.name].items()))
        if cuda:
            torch.cuda.empty_cache()
    import mmpose
    meta = dict(
        device_name=(torch.cuda.get_device_name() if cuda else
                     f'CPU ({platform.processor() or platform.machine()}, '
                     f'{torch.get_num_threads()} threads)'),
        torch=torch.__version__, cudnn=(torch.backends.cudnn.version()
                                        if cuda else None),
        mmpose=mmpose.__version__, config=args.config,
        input_size=list(input_size), batch=batch, warmup=warmup, iters=iters,
        modes=[m.name for m in modes],
        command=' '.join(shlex.quote(a) for a in ['python'] + argv),
        date=datetime.datetime.now().astimezone().isoformat(
            timespec='seconds'))
    for e in layers:
        e['key'] = [list(v) if isinstance(v, tuple) else v for v in e['key']]
    return dict(meta=meta, layers=layers)


def _describe(key) -> str:
    cin, cout, k, stride, dil, _, groups, _, hw = key
    text = f'{cin}->{cout} {k[0]}x{k[1]} @{hw[0]}x{hw[1]}'
    if max(stride) > 1:
        text += f' s{stride[0]}'
    if max(dil) > 1:
        text += f' d{dil[0]}'
    if groups > 1:
        text += f' g{groups}'
    return text


def render(results: Dict) -> str:
    """Markdown: one table per mode, totals per training step, notes."""
    meta = results['meta']
    fmt = report.fmt
    parts = [f"# Convolutions of {osp.basename(meta['config'])} one by one "
             f"({meta['device_name']})", '']
    for mode in meta['modes']:
        rows, totals = [], {}
        # the layers that take the most time per step first
        layers = sorted(
            results['layers'], key=lambda e: -e['count'] * e['ms'].get(
                mode, {}).get('native', 0.0))
        for e in layers:
            ms = e['ms'].get(mode, {})
            dil = max(e['key'][4]) > 1
            cells = [_describe(e['key']), str(e['count']),
                     fmt(e['gflop'], 2)]
            for form in FORMS:
                t = ms.get(form)
                cells += [fmt(t, 3), fmt(e['gflop'] / t if t else None, 1)]
                if t is not None:
                    group = 'dilated' if dil else 'undilated'
                    totals.setdefault((group, form), 0.0)
                    totals[(group, form)] += e['count'] * t
            rows.append(cells)
        header = ['layer (in->out kernel @input, stride, dilation)',
                  'calls/step',
                  'GFLOP/pass'] + [h for f in FORMS
                                   for h in (f'ms {f}', f'TFLOP/s {f}')]
        parts += [f'## {mode}', '', report.md_table(header, rows), '']
        summary = []
        for group in ('undilated', 'dilated'):
            for form in FORMS:
                if (group, form) in totals:
                    summary.append(f'{group} layers, {form}: '
                                   f'{fmt(totals[(group, form)], 1)} ms '
                                   'per training step (calls x ms)')
        parts += [f'- {s}' for s in summary] + ['']
    parts += ['## Notes', '']
    parts += [f'- {n}' for n in [
        f"device: {meta['device_name']}; torch {meta['torch']}, cuDNN "
        f"{meta['cudnn'] or 'n/a'}, mmpose {meta['mmpose']}",
        f"command: `{meta['command']}`", f"date: {meta['date']}",
        f"config {meta['config']} at input {meta['input_size'][0]}x"
        f"{meta['input_size'][1]}; calls/step: calls in one forward of "
        'backbone + neck + head (each is also run backward in training)',
        f"ms: median of {meta['iters']} passes (after {meta['warmup']} "
        f"warm-up) at batch {meta['batch']}, one pass = forward + input "
        'gradient + weight gradient of the layer alone, synchronised; '
        'GFLOP/pass = 2 x 3 x multiply-adds; random inputs; modes: fp32, '
        'bf16 = torch.autocast(bfloat16), cl = layer and input in '
        'channels_last',
        "forms: 'native' = nn.Conv2d as configured; 'undilated twin' = "
        'the dilated layer with dilation 1 (not the same maths: the '
        "undilated kernels' speed at that shape)",
    ]] + ['']
    return '\n'.join(parts)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not (args.device.startswith('cuda') or
            (args.device == 'auto' and torch.cuda.is_available())):
        torch.set_num_threads(args.threads)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = run(args, [osp.join('benchmarks', 'benchmark_convs.py')] + argv,
                  log=log)
    text = render(results)
    print(text)
    if not args.no_write:
        cuda = results['meta']['cudnn'] is not None
        out = args.out or osp.join(
            REPO_ROOT, 'benchmarks', 'results',
            'convs_cuda.md' if cuda else 'convs_cpu.md')
        for path, content in (
                (out, text),
                (args.json or osp.splitext(out)[0] + '.json',
                 report.dump_json(results))):
            kept = report.write_atomic(path, content)
            log(f'wrote {path}' + (f' (previous kept as {kept})'
                                   if kept else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
