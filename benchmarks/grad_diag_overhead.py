"""What the gradient-balance diagnostics cost a training step.

    python benchmarks/grad_diag_overhead.py [--config CFG] [--batch 32]
        [--rounds 5] [--steps 3] [--out benchmarks/results/grad_diag_cpu.md]

Times full training steps (forward, loss, backward, clipping, Adam) of a DLM
model on random data, in alternating rounds with the diagnostics on every
step (``grad_diag_interval=1``) and off (``0``), and reports the median time
per step of each, the extra cost of one diagnostic step, and what that
makes at the default interval of 10. Prints the table and writes it as
markdown (and the raw numbers as JSON beside it).
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
sys.path.insert(0, HERE)
from benchmark_utils.provenance import git_commit  # noqa: E402

DEFAULT_CONFIG = osp.join(
    REPO, 'configs', 'synthetic',
    'td-hm_sadinet-tiny_1xb32-10e_synthetic-mpii-128x128.py')


def main(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=3, help='timed steps a round')
    p.add_argument(
        '--interval',
        type=int,
        default=10,
        help='the interval to report the overhead for')
    p.add_argument(
        '--out', default=osp.join(HERE, 'results', 'grad_diag_cpu.md'))
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        print(
            f'grad_diag_overhead: config not found: {args.config}',
            file=sys.stderr)
        return 2

    from benchmark_utils.measure import (parse_mode, setup_train_step,
                                         time_train)
    from benchmark_utils.models import build_model, load_model_cfg
    cfg, model_cfg, size = load_model_cfg(args.config)
    if model_cfg['head']['type'] != 'DLMHead':
        print(
            'grad_diag_overhead: the config\'s head is '
            f"{model_cfg['head']['type']}, not a DLMHead",
            file=sys.stderr)
        return 2
    torch.manual_seed(0)
    model = build_model(model_cfg, 'cpu')
    step = setup_train_step(model, model_cfg, cfg.optim_wrapper,
                            parse_mode('fp32'), args.batch, size, 'cpu')
    times = {1: [], 0: []}
    for _ in range(args.rounds):
        for interval in (1, 0):
            model.train_cfg = dict(
                model.train_cfg, grad_diag_interval=interval)
            model._diag_calls = 0
            times[interval].append(
                time_train(step, args.batch, 1, args.steps,
                           'cpu')['s_per_iter'])
    on, off = statistics.median(times[1]), statistics.median(times[0])
    extra = on - off
    per = extra / args.interval
    rows = [
        ('diagnostics off (`grad_diag_interval=0`)', off * 1e3, ''),
        ('diagnostics on every step (`=1`)', on * 1e3,
         f'+{100 * extra / off:.1f}%'),
        (f'at the default interval (`={args.interval}`)', (off + per) * 1e3,
         f'+{100 * per / off:.1f}%'),
    ]
    cmd = 'python benchmarks/grad_diag_overhead.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    lines = [
        '# Cost of the gradient-balance diagnostics', '',
        f'`{cmd}` at commit {git_commit()} on {os.cpu_count()} CPU '
        f'cores ({platform.machine()}, '
        f'torch {torch.__version__}); config '
        f'`{osp.relpath(args.config, REPO)}`, batch {args.batch}, '
        f'fp32; median of {args.rounds} alternating rounds of '
        f'{args.steps} steps.', '',
        '| setting | ms per training step | overhead |', '| --- | --- | --- |'
    ]
    lines += [f'| {a} | {b:.0f} | {c} |' for a, b, c in rows]
    text = '\n'.join(lines) + '\n'
    print(text)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(
            dict(
                command=cmd,
                s_per_step_on=times[1],
                s_per_step_off=times[0],
                batch=args.batch,
                interval=args.interval),
            f,
            indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
