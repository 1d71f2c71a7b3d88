"""Does a speed setting change the study's results beyond the seed spread?

    python benchmarks/ablation/speed_check.py BEFORE_DIR AFTER_DIR \\
        --labels contiguous channels-last --out
        benchmarks/results/speed_check.md

Each folder holds the study's records (``study_runs/<variant>/*.json``) of the
same variants, seeds and budget, run under two settings. For each variant the
page gives the test PCKh@0.5 and PCKh@0.1 of every seed under each setting,
their means and ranges, the difference of the means, and the verdict: the
difference is within the seed spread when it is smaller than the larger of
the two ranges (max - min over the seeds). The median seconds per iteration
of the records are shown beside them.
"""
import argparse
import glob
import json
import os.path as osp
import sys


def read(folder):
    """variant -> seed -> record, for the records under ``folder``."""
    out = {}
    for path in sorted(
            glob.glob(osp.join(folder, 'study_runs', '*', '*.json'))):
        with open(path) as f:
            rec = json.load(f)
        if rec.get('status') == 'ok':
            out.setdefault(rec['variant'], {})[rec['seed']] = rec
    return out


def compare(before, after):
    """Rows of the page: one per (variant, metric) present in both."""
    rows = []
    for variant in sorted(set(before) & set(after)):
        seeds = sorted(set(before[variant]) & set(after[variant]))
        if not seeds:
            continue
        for key, name in (('PCK', 'PCKh@0.5'), ('PCK@0.1', 'PCKh@0.1')):
            a = [before[variant][s]['eval']['test/h1'][key] for s in seeds]
            b = [after[variant][s]['eval']['test/h1'][key] for s in seeds]
            spread = max(max(a) - min(a), max(b) - min(b))
            diff = sum(b) / len(b) - sum(a) / len(a)
            rows.append(
                dict(
                    variant=variant,
                    metric=name,
                    seeds=seeds,
                    before=a,
                    after=b,
                    diff=diff,
                    spread=spread,
                    within=abs(diff) < spread,
                    iter_before=_median(
                        [before[variant][s]['iter_s_median'] for s in seeds]),
                    iter_after=_median(
                        [after[variant][s]['iter_s_median'] for s in seeds])))
    return rows


def _median(values):
    values = sorted(v for v in values if v is not None)
    n = len(values)
    return (values[n // 2] + values[(n - 1) // 2]) / 2 if n else float('nan')


def render(rows, labels, command):
    a, b = labels
    lines = [
        f'# Speed setting check: {a} against {b}', '',
        f'- command: `{command}`', '',
        'Test split, last checkpoint, flip test; per seed and the mean. '
        'Within the seed spread: |difference of the means| below the larger '
        'range over the seeds of the two settings.', '',
        f'| variant | metric | seeds | {a} | {b} | difference | seed spread | '
        f'within | s / iteration ({a} -> {b}) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        fmt = (
            lambda v: ', '.join(f'{x:.2f}' for x in v) +  # noqa: E731
            f' (mean {sum(v) / len(v):.2f})')
        lines.append(
            f'| {r["variant"]} | {r["metric"]} | '
            f'{", ".join(map(str, r["seeds"]))} | {fmt(r["before"])} | '
            f'{fmt(r["after"])} | {r["diff"]:+.2f} | {r["spread"]:.2f} | '
            f'{"yes" if r["within"] else "no"} | {r["iter_before"]:.3f} -> '
            f'{r["iter_after"]:.3f} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('before')
    p.add_argument('after')
    p.add_argument('--labels', nargs=2, default=['before', 'after'])
    p.add_argument('--out', required=True)
    args = p.parse_args(argv)
    rows = compare(read(args.before), read(args.after))
    if not rows:
        print(
            f'speed_check: no variant with records of the same seeds in '
            f'{args.before} and {args.after}',
            file=sys.stderr)
        return 2
    page = render(
        rows, args.labels, 'python benchmarks/ablation/'
        'speed_check.py ' + ' '.join(argv))
    with open(args.out, 'w') as f:
        f.write(page)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(dict(labels=args.labels, rows=rows), f, indent=1)
    print(page)
    return 0


if __name__ == '__main__':
    sys.exit(main())
