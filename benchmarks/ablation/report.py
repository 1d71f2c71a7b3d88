"""The study's pages, rendered from its run records: ``ablation.md`` (tables
and claims), ``ablation.json`` (aggregates and comparisons) and
``ablation.png`` (validation curves of PCKh@0.5 and @0.1, and test PCKh per
seed)."""
import datetime
import json
import math
import os
import os.path as osp
import statistics
from collections import defaultdict

import stats

#: The paper's PCKh columns and MpiiPCKAccuracy's keys for them.
COLUMNS = [('Head', 'Head PCK'), ('Sho', 'Shoulder PCK'), ('Elb', 'Elbow PCK'),
           ('Wri', 'Wrist PCK'), ('Hip', 'Hip PCK'), ('Knee', 'Knee PCK'),
           ('Ank', 'Ankle PCK'), ('Mean', 'PCK'), ('PCKh@0.1', 'PCK@0.1')]
#: (claim, model A, model B): each claim says A scores above B.
CLAIMS = (
    ('RFM blocks beat basic blocks at equal parameters (Table III)',
     'c_rfm-d2', 'h_hg-basic-wide'),
    ('RFM blocks beat basic blocks (RFM with its extra parameters)',
     'c_rfm-d2', 'b_hg-basic'),
    ('SFM + DLM beat the stock head on the same hourglass (Table IV)',
     'e2_hg-sfm-dlm-h1sum', 'b_hg-basic'),
    ('the chi-weighted loss beats the plain sum (Table V)', 'f2_sadinet-h1sum',
     'g2_sadinet-loss-sum-h1sum'),
    ('full SADI-Net beats the plain hourglass', 'f2_sadinet-h1sum',
     'b_hg-basic'),
    ('full SADI-Net beats the plain hourglass of its size', 'f2_sadinet-h1sum',
     'h2_hg-basic-wide-full'),
    ('chi weighting beats a constant weight of the same mean',
     'f2_sadinet-h1sum', 'k_sadinet-chi-constant'),
    ('the DLM loss beats H1 alone (chi = 0, the DLM branch present)',
     'f2_sadinet-h1sum', 'k0_sadinet-h1-only'),
    ('L_H2 as the MSE of the rendered H2 beats the NLL (the paper\'s '
     'labelling)', 'f4_sadinet-h2mse-h1sum', 'f2_sadinet-h1sum'),
)
#: The taxonomy's classes (codes 0-4 in a record's ``classes``).
CLASSES = ('good', 'jitter', 'inversion', 'swap', 'miss')
THRESHOLDS = (('PCKh@0.5', 0.5), ('PCKh@0.1', 0.1))
#: A curve is flat when it gains less than this over its last 20 %.
FLAT_GAIN = 0.5


def _mean_sd(values):
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    sd = statistics.stdev(vals) if len(vals) > 1 else None
    return statistics.fmean(vals), sd


def _cell(values, digits=1):
    m, sd = _mean_sd(values)
    if m is None:
        return 'n/a'
    return f'{m:.{digits}f}' + (f' ± {sd:.{digits}f}'
                                if sd is not None else '')


def group(records):
    """``{iters: {variant: [ok records, by seed]}}`` and the failures."""
    out = defaultdict(lambda: defaultdict(list))
    failed = []
    for r in sorted(records, key=lambda r: (r['variant'], r['seed'])):
        if r['status'] == 'ok':
            out[r['settings']['iters']][r['variant']].append(r)
        else:
            failed.append(r)
    return out, failed


def aggregate(runs):
    """Per-variant figures of one budget from its seeds' records."""
    first = runs[0]['eval']
    test = [r['eval']['test/h1'] for r in runs]
    curves = [[(i, p) for i, p, _ in r['val_curve']] for r in runs]
    mean_curve = stats.mean_curve(curves)
    mean_curve_01 = stats.mean_curve([[(i, p) for i, _, p in r['val_curve']]
                                      for r in runs])
    it_s = [r['iter_s_median'] for r in runs if r.get('iter_s_median')]
    entry = dict(
        seeds=[r['seed'] for r in runs],
        params_M=first.get('params_M'),
        gmacs=first.get('gmacs'),
        test={
            k: [t.get(k) for t in test]
            for _, k in COLUMNS
        },
        val_final=[
            r['val_curve'][-1][1] if r['val_curve'] else None for r in runs
        ],
        val_curve_mean=mean_curve,
        late_gain=stats.late_gain(mean_curve),
        late_gain_seeds=[stats.late_gain(c) for c in curves],
        val_curve_mean_01=mean_curve_01,
        late_gain_01=stats.late_gain(mean_curve_01),
        iter_s=statistics.median(it_s) if it_s else None,
        batch_size=runs[0]['settings']['batch_size'],
        train_min=[r.get('train_s', 0) / 60 for r in runs],
    )
    for key in ('grad_ratio_first', 'grad_ratio_median', 'grad_ratio_last',
                'chi_last'):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if vals:
            entry[key] = vals
    for key in first:
        if '/' in key and key != 'test/h1':
            entry[key] = {
                k: [r['eval'].get(key, {}).get(k) for r in runs]
                for _, k in COLUMNS
            }
    return entry


def comparisons(by_variant, agg=None, tags=None):
    """The paired bootstrap of every claim whose two models are present.

    With ``agg`` (the same budget's :func:`aggregate` entries) each
    threshold also gets ``gap_drift``: how much the gap A - B of the mean
    validation curves moved over the last 20 % of training. Where the
    records keep the taxonomy's classes, ``classes`` holds the difference
    of each class's share of the joints; with ``tags`` (``{tag: (N, K)
    flags}`` of the test split, as its ``tags.json`` holds them), ``tags``
    holds PCKh@0.5 over each tag's joints.
    """
    out = []
    curve_keys = dict(
        zip((label for label, _ in THRESHOLDS),
            ('val_curve_mean', 'val_curve_mean_01')))
    for claim, a, b in CLAIMS:
        if a not in by_variant or b not in by_variant:
            continue
        ea = [r['eval']['errors']['test/h1'] for r in by_variant[a]]
        eb = [r['eval']['errors']['test/h1'] for r in by_variant[b]]
        row = dict(claim=claim, a=a, b=b, seeds_a=len(ea), seeds_b=len(eb))
        for label, thr in THRESHOLDS:
            ci = stats.paired_bootstrap(ea, eb, thr)
            ci['verdict'] = stats.verdict(ci)
            if agg is not None:
                key = curve_keys[label]
                ci['gap_drift'] = stats.late_gain(
                    stats.gap_curve(agg[a][key], agg[b][key]))
            row[label] = ci
        ca = [
            r['eval'].get('classes', {}).get('test/h1') for r in by_variant[a]
        ]
        cb = [
            r['eval'].get('classes', {}).get('test/h1') for r in by_variant[b]
        ]
        if all(c is not None for c in ca + cb):
            row['classes'] = {
                name:
                stats.paired_bootstrap_counts(
                    [stats.class_counts(c, code)
                     for c in ca], [stats.class_counts(c, code) for c in cb])
                for code, name in enumerate(CLASSES)
            }
        if tags and all(len(t) == len(ea[0]) for t in tags.values()):
            row['tags'] = {
                tag: stats.paired_bootstrap(ea, eb, 0.5, mask=flags)
                for tag, flags in tags.items()
            }
        out.append(row)
    return out


def flat_from(agg):
    """The smallest budget at which each variant's mean validation curve is
    flat (gain below ``FLAT_GAIN`` over its last 20 %), per threshold.

    Args:
        agg (dict): ``{iterations: {variant: aggregate entry}}``.

    Returns:
        dict: ``{variant: {'PCKh@0.5': iterations or None, 'PCKh@0.1': ...}}``;
        None where no recorded budget is flat.
    """
    out = {}
    for n in sorted({n for b in agg for n in agg[b]}):
        out[n] = {}
        for label, key in (('PCKh@0.5', 'late_gain'), ('PCKh@0.1',
                                                       'late_gain_01')):
            out[n][label] = next(
                (b for b in sorted(agg)
                 if n in agg[b] and agg[b][n].get(key) is not None
                 and agg[b][n][key] < FLAT_GAIN), None)
    return out


def _drift_text(ci):
    drift = ci.get('gap_drift')
    return 'n/a' if drift is None else f'{drift:+.2f}'


def _img_s(entry):
    """Training images per second of one run (one CPU thread)."""
    if not entry.get('iter_s'):
        return 'n/a'
    return f'{entry["batch_size"] / entry["iter_s"]:.0f}'


def _flat_text(gain):
    if gain is None:
        return 'n/a'
    return f'{gain:+.2f} ({"flat" if gain < FLAT_GAIN else "climbing"})'


def _ci_text(ci):
    return f'{ci["diff"]:+.1f} [{ci["lo"]:+.1f}, {ci["hi"]:+.1f}]'


def _detail_table(comps):
    """Each claim by difficulty tag (PCKh@0.5) and by error class."""
    tag_names = sorted({t for c in comps for t in c.get('tags', {})})
    with_cls = [c for c in comps if 'classes' in c]
    if not with_cls:
        return []
    L = [
        '### The claims by difficulty tag and by error class', '',
        'ΔPCKh@0.5 over the joints of each difficulty tag of the test split, '
        'and the difference of each error class\'s share of the joints '
        '(percentage points; for the error classes a negative difference '
        'means fewer errors for A), each with its paired 95 % interval.', '',
        '| claim | ' + ' | '.join(tag_names + list(CLASSES[1:])) + ' |',
        '| --- |' + ' --- |' * (len(tag_names) + len(CLASSES) - 1)
    ]
    for c in with_cls:
        cells = [
            _ci_text(c['tags'][t]) if t in c.get('tags', {}) else 'n/a'
            for t in tag_names
        ]
        cells += [_ci_text(c['classes'][k]) for k in CLASSES[1:]]
        L.append(f'| {c["claim"]} | ' + ' | '.join(cells) + ' |')
    return L + ['']


def render(out_dir, records, variants, describe, tags=None):
    """Write the three pages into ``out_dir`` from ``records`` (``tags``:
    the test split's joint tags, see :func:`comparisons`)."""
    grouped, failed = group(records)
    budgets = sorted(grouped)
    agg = {
        it: {
            n: aggregate(runs)
            for n, runs in grouped[it].items()
        }
        for it in budgets
    }
    # the converged table: the largest budget
    top = budgets[-1] if budgets else None
    comps = comparisons(grouped[top], agg[top], tags) if top else []
    data = dict(
        meta=dict(
            date=datetime.date.today().isoformat(),
            runs=len(records),
            commits=sorted({r['commit']
                            for r in records})),
        budgets={str(it): agg[it]
                 for it in budgets},
        flat_from=flat_from(agg),
        comparisons=comps)
    with open(osp.join(out_dir, 'ablation.json'), 'w') as f:
        json.dump(data, f, indent=1)
    with open(osp.join(out_dir, 'ablation.md'), 'w') as f:
        f.write(markdown(grouped, agg, comps, failed, variants, describe))
    if budgets:
        figure(osp.join(out_dir, 'ablation.png'), agg, top)


def markdown(grouped, agg, comps, failed, variants, describe):
    budgets = sorted(agg)
    L = ['# Controlled study on synthetic data', '']
    if not budgets:
        return '\n'.join(L + ['No finished run is recorded yet.', ''])
    top = budgets[-1]
    runs = [r for v in grouped[top].values() for r in v]
    s = runs[0]['settings']
    thin = sorted(n for n in {v
                              for _, a, b in CLAIMS
                              for v in (a, b)}
                  if len(agg[top].get(n, {}).get('seeds', [])) < 3)
    if thin:
        L += [
            f'**In progress:** at {top} iterations, {", ".join(thin)} '
            'have fewer than 3 seeds; the tables and intervals below are '
            'of the runs recorded so far.', ''
        ]
    every = [r for it in grouped for v in grouped[it].values()
             for r in v] + failed
    hours = sum(r.get('train_s', 0) + r.get('eval_s', 0) for r in every) / 3600
    L += [
        'Written from the run records in [study_runs/](study_runs/) by '
        '`python benchmarks/ablation/study.py` (commits '
        f'{", ".join(sorted({r["commit"] for r in runs}))}, '
        f'{runs[0]["device"]}). Run time in the records: {len(every)} runs, '
        f'{hours:.2f} h of training and evaluation summed over the runs (a '
        'run resumed from a checkpoint records the part after the resume).',
        '',
        '**Protocol.** Every variant trains with MMPose\'s `tools/train.py` '
        f'on the same generated `{s.get("difficulty", "standard")}` split '
        f'({s["train_images"]} '
        f'images, batch {s["batch_size"]}, Adam 2e-3, cosine schedule, '
        '128x128 input, 32x32 heatmaps), scoring `MpiiPCKhAccuracy` (flip '
        f'test) on a {s["val_images"]}-image validation split every '
        f'{s["val_every"]} epochs. The last checkpoint is scored on a '
        f'separate {s["test_images"]}-image test split, never used for a '
        'choice. Cells: mean ± sample standard deviation over the seeds. '
        'Per-seed figures: [ablation.json](ablation.json); curves: '
        '[ablation.png](ablation.png).', '',
        f'## Test split at {top} iterations', '',
        '| variant | params (M) | GMACs | seeds | PCKh@0.5 | PCKh@0.1 | '
        'val PCKh@0.5 | val gain, last 20 % | val gain @0.1 | '
        'img/s (1 thread) |',
        '| --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: |'
    ]
    for n, e in agg[top].items():
        g01 = e.get('late_gain_01')
        L.append(f'| {n} | {e["params_M"]:.2f} | {e["gmacs"]:.3f} | '
                 f'{len(e["seeds"])} | {_cell(e["test"]["PCK"])} | '
                 f'{_cell(e["test"]["PCK@0.1"])} | {_cell(e["val_final"])} | '
                 f'{_flat_text(e["late_gain"])} | '
                 f'{"n/a" if g01 is None else f"{g01:+.2f}"} | {_img_s(e)} |')
    L += [
        '', 'Val gain: the mean validation curve\'s PCKh@0.5 gain over the '
        f'last 20 % of training; below {FLAT_GAIN} point the curve counts '
        'as flat at that budget (the same gain of PCKh@0.1 beside it). '
        'img/s: training images per second at the median iteration, one '
        'CPU thread per run and two runs at a time.', ''
    ]
    if comps:
        L += [
            '## Claims, paired over test images', '',
            'Mean difference A - B over seeds, with a 95 % interval from '
            'a bootstrap that redraws the test images (the same draw for '
            'both models) and each model\'s seeds. A claim is *supported* '
            'when the whole interval is above 0, *reversed* when it is '
            'below, *not supported* otherwise. Drift: how much the gap '
            'between the two mean validation curves moved over the last '
            '20 % of training; a gap that holds still ranks the models '
            'even where their curves still climb.', '',
            '| claim | A | B | seeds | params (M) | img/s | '
            'ΔPCKh@0.5 [95 %] | | drift | ΔPCKh@0.1 [95 %] | | drift |',
            '| --- | --- | --- | --- | --- | --- | --- | --- | ---: | '
            '--- | --- | ---: |'
        ]
        for c in comps:
            ea, eb = agg[top][c['a']], agg[top][c['b']]
            cells = []
            for label, _ in THRESHOLDS:
                ci = c[label]
                cells += [
                    f'{ci["diff"]:+.2f} [{ci["lo"]:+.2f}, '
                    f'{ci["hi"]:+.2f}]', ci['verdict'],
                    _drift_text(ci)
                ]
            L.append(f'| {c["claim"]} | {c["a"]} | {c["b"]} | '
                     f'{c["seeds_a"]}/{c["seeds_b"]} | '
                     f'{ea["params_M"]:.2f} / {eb["params_M"]:.2f} | '
                     f'{_img_s(ea)} / {_img_s(eb)} | ' + ' | '.join(cells) +
                     ' |')
        L.append('')
        L += _detail_table(comps)
    if len(budgets) > 1:
        L += [
            '## Budgets', '',
            'Test PCKh@0.5 (mean over seeds, seeds in brackets) and the '
            'validation gain of PCKh@0.5 / PCKh@0.1 over the last 20 % of '
            f'each budget. Flat from: the smallest budget whose gain is '
            f'below {FLAT_GAIN} point.', '',
            '| variant | ' + ' | '.join(f'{b} it' for b in budgets) +
            ' | flat from, @0.5 | flat from, @0.1 |',
            '| --- | ' + ' | '.join('---' for _ in budgets) + ' | --- | --- |'
        ]
        flat = flat_from(agg)
        for n, by_thr in flat.items():
            cells = []
            for b in budgets:
                e = agg[b].get(n)
                if e is None:
                    cells.append('')
                    continue
                m, _ = _mean_sd(e['test']['PCK'])
                gains = [
                    g for g in (e['late_gain'], e.get('late_gain_01'))
                    if g is not None
                ]
                gain = ' / '.join(f'{g:+.2f}' for g in gains)
                cells.append(f'{m:.1f} ({len(e["seeds"])})' +
                             (f', gain {gain}' if gains else ''))
            longest = max(b for b in budgets if n in agg[b])
            cells += [
                f'{by_thr[t]} it' if by_thr[t] else f'not by {longest} it'
                for t in ('PCKh@0.5', 'PCKh@0.1')
            ]
            L.append(f'| {n} | ' + ' | '.join(cells) + ' |')
        L.append('')
    L += [
        f'## Per joint at {top} iterations (test PCKh@0.5)', '',
        '| variant | ' + ' | '.join(c for c, _ in COLUMNS[:7]) + ' |',
        '| --- | ' + ' | '.join('---' for _ in COLUMNS[:7]) + ' |'
    ]
    for n, e in agg[top].items():
        L.append(f'| {n} | ' +
                 ' | '.join(_cell(e['test'][k])
                            for _, k in COLUMNS[:7]) + ' |')
    dec = [(n, e) for n, e in agg[top].items() if 'val/mu' in e]
    if dec:
        L += [
            '', '## Decode source of the full model', '',
            '| variant | decode | val PCKh@0.5 | test PCKh@0.5 | '
            'test PCKh@0.1 |', '| --- | --- | --- | --- | --- |'
        ]
        for n, e in dec:
            L.append(f'| {n} | h1 | {_cell(e["val_final"])} | '
                     f'{_cell(e["test"]["PCK"])} | '
                     f'{_cell(e["test"]["PCK@0.1"])} |')
            for d in ('mu', 'blend'):
                v, t = e.get(f'val/{d}'), e.get(f'test/{d}')
                if v and t:
                    L.append(f'| {n} | {d} | {_cell(v["PCK"])} | '
                             f'{_cell(t["PCK"])} | {_cell(t["PCK@0.1"])} |')
    diag = [(n, e) for n, e in agg[top].items() if 'grad_ratio_median' in e]
    if diag:
        L += [
            '', '## Loss balance (DLM variants)', '',
            '`grad_ratio`: the norm of the gradient the weighted H2 term '
            'sends into the backbone\'s outputs over that of the weighted '
            'H1 term (first / median / last measurement).', '',
            '| variant | first | median | last | chi (last) |',
            '| --- | --- | --- | --- | --- |'
        ]
        for n, e in diag:
            L.append(f'| {n} | {_cell(e["grad_ratio_first"], 3)} | '
                     f'{_cell(e["grad_ratio_median"], 3)} | '
                     f'{_cell(e["grad_ratio_last"], 3)} | '
                     f'{_cell(e.get("chi_last", []), 3)} |')
    L += ['', '## Variants', '', '| variant | what it is |', '| --- | --- |']
    shown = sorted({n for b in budgets for n in agg[b]})
    L += [f'| {n} | {describe(variants[n])} |' for n in shown if n in variants]
    if failed:
        L += ['', '## Runs that did not finish', '']
        L += [f'- {r.get("message", r["variant"])}' for r in failed]
    return '\n'.join(L) + '\n'


def figure(path, agg, top):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax3, ax2) = plt.subplots(1, 3, figsize=(18, 4.8))
    names = list(agg[top])
    for ax, key, label in ((ax1, 'val_curve_mean', 'PCKh@0.5'),
                           (ax3, 'val_curve_mean_01', 'PCKh@0.1')):
        for i, n in enumerate(names):
            curve = agg[top][n].get(key)
            if curve:
                ax.plot([c[0] for c in curve], [c[1] for c in curve],
                        label=n,
                        lw=1.3,
                        ls='-' if i < 10 else '--',
                        marker='.')
        ax.set_xlabel('iteration')
        ax.set_ylabel(f'validation {label} (mean over seeds)')
        ax.set_title(f'validation {label}, {top}-iteration runs')
        ax.grid(alpha=0.3)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(fontsize=7)
    for i, n in enumerate(names):
        vals = [v for v in agg[top][n]['test']['PCK'] if v is not None]
        if vals:
            ax2.bar(i, sum(vals) / len(vals), color='#9ecae1')
            ax2.plot([i] * len(vals), vals, 'o', color='#08519c', ms=4)
    ax2.set_xticks(range(len(names)))
    ax2.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
    ax2.set_ylabel('test PCKh@0.5 (bars: mean, dots: seeds)')
    lows = [v for n in names for v in agg[top][n]['test']['PCK'] if v]
    if lows:
        ax2.set_ylim(max(0, min(lows) - 5), min(100, max(lows) + 2))
    ax2.set_title('test split')
    ax2.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
