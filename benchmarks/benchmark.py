"""The bench: SADI-Net beside stock MMPose models, one entry point, five modes.

    python benchmarks/benchmark.py MODE [options]

- ``train``: training images/s, step time, peak memory and FLOP rate per
  precision mode (fp32, fp16, bf16, ``+cl`` channels_last, ``+compile``),
  with parameters and GMACs; each config against a reference (or, with
  ``--ladder``, against the config before it).
- ``infer``: inference latency per precision mode, batch and flip test.
- ``onnx``: the exported prediction path, PyTorch eager against ONNX
  Runtime, at each thread count.
- ``profile``: ``torch.profiler`` over a few steps: time by kernel category
  and operations per step (``--parts``: by backbone, neck, head, optimizer).
- ``runner``: iterations per second through MMPose's runner, one setting at
  a time (data workers, channels-last, ...), each run in its own process.

Models are built from their configs with random weights and fed random
inputs whose targets come from the config's codec. Every mode times with
one loop (``measure.time_calls``) and writes records of one schema
(``records.py``: model, mode, setting, device, threads, torch, commit,
command, metrics) to ``--json``, rendered to ``--out`` (default
``benchmarks/results/<mode>_<device>.md``; a different existing file is
kept as ``.prev``).
"""
import argparse
import os.path as osp
import platform
import shlex
import sys
from typing import Dict, List, Optional

_HERE = osp.dirname(osp.abspath(__file__))
for _p in (_HERE, osp.dirname(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch

from benchmark_utils.models import (DEFAULT_CONFIGS, REPO_ROOT, ModelSpec,
                                    import_plugin, parse_config_spec)

PLUGIN_ERROR = import_plugin()  # before mmpose.models; errors are reported

from benchmark_utils import (measure, onnx_mode, profile_mode, records,
                             runner_mode, torch_modes)
from benchmark_utils.provenance import git_commit

MODES = dict(
    train=torch_modes,
    infer=torch_modes,
    onnx=onnx_mode,
    profile=profile_mode,
    runner=runner_mode)
TITLES = dict(
    train='Training throughput',
    infer='Inference latency',
    onnx='Exported model latency: PyTorch eager and ONNX Runtime',
    profile='Profile of training steps',
    runner='Training iterations through the runner')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line: ``MODE`` and its options (``MODE --help``)."""
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='mode', required=True, metavar='MODE')
    for name, module in MODES.items():
        m = sub.add_parser(
            name,
            allow_abbrev=False,
            help=TITLES[name],
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if module is not runner_mode and module is not onnx_mode:
            m.add_argument(
                '--configs',
                nargs='+',
                type=parse_config_spec,
                default=[ModelSpec(lbl, c) for lbl, c in DEFAULT_CONFIGS],
                metavar='[LABEL=]CONFIG',
                help='configs, each optionally labelled; mmpose:: paths '
                'allowed')
        m.add_argument(
            '--device',
            default='auto',
            help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:N'")
        m.add_argument(
            '--threads',
            type=int,
            default=None,
            help='torch CPU threads (default 1 on the CPU: robust on a '
            "shared machine; torch's own with CUDA)")
        m.add_argument(
            '--out',
            default=None,
            help='markdown page (default benchmarks/results/'
            '<mode>_<device>.md)')
        m.add_argument(
            '--json', default=None, help='records (default: --out, .json)')
        m.add_argument('--no-write', action='store_true', help='print only')
        m.add_argument(
            '--render-json',
            default=None,
            metavar='JSON',
            help='measure nothing: render the records of an earlier run')
        module.add_arguments(m, name)
    return p.parse_args(argv)


def environment(args: argparse.Namespace, argv: List[str]) -> Dict:
    """The fields every record of this run shares."""
    cuda = args.device.startswith('cuda')
    name = (
        torch.cuda.get_device_name(torch.device(args.device))
        if cuda else f'cpu ({platform.processor() or platform.machine()})')
    return dict(
        device=name,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        commit=git_commit(),
        command=' '.join(
            shlex.quote(a)
            for a in ['python', 'benchmarks/benchmark.py'] + list(argv)))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [runner_mode.CHILD]:  # one runner measurement
        return runner_mode.child(argv[1:])
    args = parse_args(argv)
    if args.render_json:
        try:
            recs = records.load(args.render_json)
        except (OSError, ValueError) as e:  # json errors are ValueErrors
            raise SystemExit(f'error: --render-json: {e}')
        print(records.render(recs, TITLES[args.mode]))
        return 0
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda but CUDA is not available')
    if args.threads:
        torch.set_num_threads(args.threads)
    elif not args.device.startswith('cuda'):
        torch.set_num_threads(1)
    if args.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    if PLUGIN_ERROR:
        print(
            f'warning: sadinet_mmpose failed to import: {PLUGIN_ERROR}',
            file=sys.stderr)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    env = environment(args, argv)
    device_tag = 'cuda' if args.device.startswith('cuda') else 'cpu'
    out = args.out or osp.join(REPO_ROOT, 'benchmarks', 'results',
                               f'{args.mode}_{device_tag}.md')
    json_path = args.json or osp.splitext(out)[0] + '.json'
    recs: List[Dict] = []
    written = []

    def save(new: List[Dict], replace: bool = False) -> None:
        """Add (or, with ``replace``, set) the records and rewrite the
        files; the first write of a run keeps the page it replaces as
        ``.prev``."""
        first = not written
        written.append(True)
        if replace:
            recs.clear()
        recs.extend(new)
        if not args.no_write:
            records.write_atomic(json_path, records.dump_json(recs), first)
            records.write_atomic(out, records.render(recs, TITLES[args.mode]),
                                 first)

    with measure.float32_to_numpy():
        status = MODES[args.mode].run(args, env, save, log)
    print(records.render(recs, TITLES[args.mode]))
    if not args.no_write:
        log(f'wrote {out} and {json_path}')
    return status


if __name__ == '__main__':
    sys.exit(main())
