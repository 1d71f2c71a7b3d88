"""Markdown tables, notes and atomic output files (with ``.prev`` backups)."""
import json
import math
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence


def fmt(value, digits: int = 1, none: str = '-') -> str:
    """Format a number for a table cell (``-`` for missing / NaN)."""
    if value is None:
        return none
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return 'nan'
    if digits >= 1 and value != 0 and abs(value) < 10**(1 - digits):
        # small numbers (CPU runs): keep two significant digits
        digits = max(digits, 1 - int(math.floor(math.log10(abs(value)))))
    return f'{value:.{digits}f}'


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (``|`` in cells escaped)."""

    def line(cells):
        return '| ' + ' | '.join(str(c).replace('|', '\\|')
                                 for c in cells) + ' |'

    out = [line(header), line(['---'] * len(header))]
    out += [line(r) for r in rows]
    return '\n'.join(out)


def latency_key(batch: int, mode: str, flip: bool) -> str:
    """Key of one latency measurement in the results / column name."""
    return f'b={batch} {mode}' + (' flip' if flip else '')


def size_table(results: Dict) -> str:
    """Table 1: size, FLOPs and inference latency, one row per model."""
    keys = results['meta']['latency_keys']
    header = (['model', 'params (M)', 'GMACs'] +
              [f'infer ms {k}' for k in keys] + ['status'])
    rows = []
    for m in results['models']:
        lat = m.get('latency', {})
        cells = [
            m['label'],
            fmt(_div(m.get('params'), 1e6), 2),
            fmt(_div(m.get('macs'), 1e9), 2)
        ]
        for k in keys:
            entry = lat.get(k)
            cells.append('error' if entry and entry.get('error') else fmt(
                entry and entry.get('ms'), 1))
        if m['status'] != 'ok':
            cells.append('error: ' + (m.get('error') or '?'))
        else:
            cells.append('ok' if not m.get('errors') else
                         f"{len(m['errors'])} error(s), see notes")
        rows.append(cells)
    return md_table(header, rows)


def train_table(results: Dict) -> str:
    """Table 2: training throughput per model and mode, with derived rates."""
    meta = results['meta']
    ref = meta.get('ref_label') or '-'
    peak = (meta.get('peak') or {}).get('tflops')
    mem_unit = 'peak GiB' if meta.get('cuda') else 'peak RSS +GiB'
    header = [
        'model', 'mode', 'train img/s', mem_unit, 'train TFLOP/s',
        f'img/s vs {ref}', f'TFLOP/s vs {ref}', '% of peak'
    ]
    rows = []
    for m in results['models']:
        if m['status'] != 'ok':
            rows.append([m['label'], '-', 'error', '-', '-', '-', '-', '-'])
            continue
        for mode, t in m.get('train', {}).items():
            if t.get('error'):
                rows.append(
                    [m['label'], mode, 'error', '-', '-', '-', '-', '-'])
                continue
            pct = (100.0 * t['tflops'] /
                   peak if peak and t.get('tflops') is not None else None)
            rows.append([
                m['label'], mode,
                fmt(t.get('img_s'), 1),
                fmt(t.get('peak_gib'), 2),
                fmt(t.get('tflops'), 3),
                fmt(t.get('img_s_vs_ref'), 2),
                fmt(t.get('tflops_vs_ref'), 2),
                fmt(pct, 2)
            ])
    return md_table(header, rows)


def marginal_pairs(results: Dict) -> List[tuple]:
    """``(model, against)`` pairs of the marginal-cost table.

    With ``--ladder`` each model is set against the one before it in the
    ``--configs`` order (a ladder of added parts); otherwise every model with
    more multiply-adds than the reference is set against the reference.
    """
    meta = results['meta']
    ok = [
        m for m in results['models'] if m['status'] == 'ok' and m.get('macs')
    ]
    if (meta.get('settings') or {}).get('ladder'):
        return list(zip(ok[1:], ok[:-1]))
    ref = next((m for m in ok if m['label'] == meta.get('ref_label')), None)
    if ref is None:
        return []
    return [(m, ref) for m in ok if m is not ref and m['macs'] > ref['macs']]


def marginal_table(results: Dict) -> Optional[str]:
    """Table: what the added multiply-adds cost in time, per training mode.

    For a model against a smaller one, the extra training FLOPs per step
    (GMACs difference x 2 x 3 x batch) over the extra seconds per step is
    the rate at which the added parts run. If it is at least the smaller
    model's own FLOP rate, the added parts cost their FLOPs and no more.
    """
    batch = (results['meta'].get('settings') or {}).get('batch')
    rows = []
    for m, base in marginal_pairs(results):
        for mode, t in m.get('train', {}).items():
            b = base.get('train', {}).get(mode)
            if (not batch or t.get('error') or not b or b.get('error')
                    or not t.get('s_per_iter') or not b.get('s_per_iter')):
                continue
            d_macs = m['macs'] - base['macs']
            d_s = t['s_per_iter'] - b['s_per_iter']
            d_tflop = d_macs * 2 * 3 * batch / 1e12
            rate = d_tflop / d_s if d_s > 0 else None
            base_rate = b.get('tflops')
            rows.append([
                m['label'], base['label'], mode,
                fmt(d_macs / 1e9, 2),
                fmt(1e3 * d_s, 1),
                fmt(rate, 3) if rate is not None else 'free (no extra time)',
                fmt(base_rate, 3),
                fmt(rate / base_rate, 2) if rate and base_rate else '-'
            ])
    if not rows:
        return None
    header = [
        'model', 'against', 'mode', 'extra GMACs', 'extra ms/step',
        'marginal TFLOP/s', 'against TFLOP/s', 'marginal / against'
    ]
    return md_table(header, rows)


def _div(a, b):
    return None if a is None else a / b


def render_markdown(results: Dict) -> str:
    """The whole report: title, tables, derived lines and notes."""
    meta = results['meta']
    parts = [
        f"# Benchmark: SADI-Net against stock MMPose models "
        f"({meta['device_name']})", '', '## Size and inference latency', '',
        size_table(results), '', '## Training throughput', '',
        train_table(results), ''
    ]
    derived = derived_lines(results)
    if derived:
        parts += ['Derived:', ''] + [f'- {d}' for d in derived] + ['']
    mt = marginal_table(results)
    if mt:
        parts += [
            '## Marginal cost of the added parts', '',
            'The extra training FLOPs per step of each model over '
            'the model it is set against, divided by the extra time '
            "per step: the rate at which the added parts run. 'marginal "
            "/ against' >= 1 means they cost their FLOPs and no more; "
            'below 1, they cost more time than their FLOPs would at '
            'the smaller model\'s rate (memory-bound layers: '
            'normalisation, element-wise, pooling).', '', mt, ''
        ]
    parts += ['## Notes', ''] + [f'- {n}' for n in notes(results)] + ['']
    return '\n'.join(parts)


def derived_lines(results: Dict) -> List[str]:
    """Per model: the best training mode's share of the peak matmul rate."""
    peak = results['meta'].get('peak') or {}
    lines = []
    if peak.get('tflops'):
        src = ('given (--peak-tflops)' if peak.get('given') else
               f"measured: {peak.get('dtype')} matmul {peak.get('size')}^3")
        lines.append(f"peak matmul rate: {fmt(peak['tflops'], 1)} TFLOP/s "
                     f'({src})')
    for m in results['models']:
        best = m.get('best_mode')
        if not best:
            continue
        t = m['train'][best]
        text = f"{m['label']}: best mode {best} at {fmt(t['img_s'], 1)} img/s"
        if t.get('tflops') is None:
            lines.append(text + ' (no FLOP count)')
            continue
        text += f" = {t['tflops']:.3f} TFLOP/s"
        if peak.get('tflops'):
            text += f", {100 * t['tflops'] / peak['tflops']:.1f}% of peak"
        lines.append(text)
    return lines


def notes(results: Dict) -> List[str]:
    """Notes lines: machine, versions, command, date, column meanings."""
    meta = results['meta']
    s = meta['settings']
    out = [
        f"device: {meta['device_name']}; torch {meta['torch']}, CUDA "
        f"{meta.get('cuda_version') or 'n/a'}, cuDNN "
        f"{meta.get('cudnn') or 'n/a'}, mmpose {meta['mmpose']}, mmengine "
        f"{meta['mmengine']}, mmcv {meta.get('mmcv')}, python "
        f"{meta['python']}; {meta.get('threads')} CPU threads",
        f"command: `{meta['command']}`" +
        (f" (commit {meta['commit']})" if meta.get('commit') else ''),
        f"date: {meta['date']}",
        f"inputs: random images and random keypoints (seed {s['seed']}), "
        f"targets from each model's own codec through MMPose's GenerateTarget "
        f"+ PackPoseInputs; input {s['input_size_text']}; training batch "
        f"{s['batch']}",
        'weights: random initialisation (pre-trained init_cfg entries of '
        'the configs dropped).',
        'params (M): all parameters of the built model, in millions. '
        'GMACs: multiply-adds of one 1x3xHxW forward of `model._forward` '
        '(backbone, neck, head) by '
        'mmengine.analysis.get_model_complexity_info '
        '(mmengine calls them FLOPs), at the benchmark input size.',
        f"infer ms b=N MODE [flip]: median of {s['latency_iters']} calls "
        f"(after {s['latency_warmup']} warm-up) of model.eval() under "
        'torch.inference_mode: backbone -> neck -> head.predict (decoding '
        'included, no heatmap output, no multi-scale test); flip = flip test '
        'on (the flipped batch through the network too). Per batch, not per '
        'image.',
        f"train img/s: {s['iters']} timed steps after {s['warmup']} warm-up "
        'steps of forward + loss + backward + the config\'s optimizer step '
        '(and its clip_grad if any), between two synchronisations; the data '
        'preprocessor is excluded (inputs normalised on the device once). '
        'Each mode starts from a freshly built model. Modes: fp32; fp16 = '
        'torch.autocast(float16) + GradScaler; bf16 = '
        'torch.autocast(bfloat16) '
        'without scaler; cl = model and input in channels_last; compile = '
        'torch.compile of the backbone' +
        (f" (mode {s['compile_mode']})" if s.get('compile_mode') else '') +
        '.',
        'memory: ' + meta['memory_kind'] + ', from the start of warm-up to '
        'the end of the timed steps, in GiB (2^30 bytes).',
        'train TFLOP/s = img/s x GMACs x 2 (FLOPs per MAC) x 3 (forward + '
        f"backward) / 1000. 'vs {meta.get('ref_label')}': ratio against that "
        'model in the same mode of this run. % of peak: train TFLOP/s over '
        'the peak matmul rate.',
        'training accuracy: ' +
        ("switched off (train_cfg.compute_acc=False) where the head honours "
         "it; heads that always compute it (stock CPMHead, i.e. "
         "Hourglass-52) still do"
         if s['train_acc'] == 'off' else 'computed as the configs say') +
        '. Stock heads compute it (and decode) through numpy, which has no '
        "bfloat16: during the benchmark mmpose's to_numpy is wrapped to cast "
        'fp16/bf16 tensors to float32 first (fp32 unaffected)' +
        (f" ({len(meta['patched_to_numpy'])} modules patched, listed in "
         'the JSON)' if meta.get('patched_to_numpy') else '') + '.',
        'backend flags: ' + meta.get('backend_flags', '-'),
    ]
    if meta.get('plugin_error'):
        out.append('sadinet_mmpose failed to import (its configs cannot '
                   f"build): {meta['plugin_error']}")
    for m in results['models']:
        for err in m.get('errors', []):
            out.append(f"error [{m['label']}] {err}")
        for warn in m.get('warnings', []):
            out.append(f"warning [{m['label']}] {warn}")
    return out


def write_atomic(path: str, text: str) -> Optional[str]:
    """Write ``text`` to ``path`` atomically, keeping a different old file.

    The text goes to a temporary file in the same folder, then replaces
    ``path`` with ``os.replace``. If ``path`` exists with different content
    it is first renamed to ``path + '.prev'`` (replacing an older ``.prev``).

    Args:
        path: Destination.
        text: Content.

    Returns:
        str | None: The ``.prev`` path if a previous version was kept.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix='.' + osp.basename(path) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        kept = None
        if osp.exists(path):
            with open(path, encoding='utf-8', errors='replace') as f:
                same = f.read() == text
            if not same:
                kept = path + '.prev'
                os.replace(path, kept)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
    return kept


def dump_json(results: Dict) -> str:
    """Results as indented JSON (non-finite floats as null)."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(results), indent=2) + '\n'
