"""The bench's one record schema, its markdown renderer and atomic writing.

A record is one measurement of one model under one setting::

    dict(model='SADI-Net', mode='train', setting='fp32 b2', device='cpu',
         threads=1, torch='2.15.0', commit='84d63bd', command='python ...',
         metrics={'img_s': 1.9, 'peak_gib': 0.4, ...})

Every mode of ``benchmarks/benchmark.py`` writes a list of these as JSON and
renders it with :func:`render`; a failed measurement keeps its record with
``metrics={'error': '...'}``.
"""
import json
import math
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional

FIELDS = ('model', 'mode', 'setting', 'device', 'threads', 'torch', 'commit',
          'command', 'metrics')


def make_record(model: str,
                mode: str,
                setting: str,
                metrics: Dict,
                env: Dict,
                threads: Optional[int] = None) -> Dict:
    """One record.

    Args:
        model (str): The model's label.
        mode (str): The bench mode (``train``, ``infer``, ``onnx``,
            ``profile``, ``runner``).
        setting (str): What was varied within the mode (precision, batch,
            runtime, ...), as a short label.
        metrics (dict): Metric name -> number (or ``error`` -> text).
        env (dict): ``device``, ``threads``, ``torch``, ``commit`` and
            ``command`` of the run.
        threads (int, optional): The record's thread count where it is not
            the run's.

    Returns:
        dict: The record, with the keys of :data:`FIELDS`.
    """
    rec = dict(model=model, mode=mode, setting=setting)
    rec.update({k: env[k] for k in FIELDS[3:8]})
    if threads is not None:
        rec['threads'] = threads
    rec['metrics'] = metrics
    return rec


def _cell(value) -> str:
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, float):
        return '-' if not math.isfinite(value) else f'{value:.4g}'
    if isinstance(value, int):
        return f'{value:,}'
    return str(value).replace('\n', ' ')


def md_table(header: List[str], rows: List[List]) -> str:
    """A markdown table; numbers to 4 significant digits, ``|`` escaped."""

    def line(cells):
        return '| ' + ' | '.join(_cell(c).replace('|', '\\|')
                                 for c in cells) + ' |'

    return '\n'.join([line(header), '|' + ' --- |' * len(header)] +
                     [line(r) for r in rows])


def render(records: List[Dict], title: str) -> str:
    """Markdown: the provenance of the records, then one table per mode.

    Args:
        records (list[dict]): Records of :func:`make_record`.
        title (str): The page's heading.

    Returns:
        str: The page. Each table has the model, the setting, the threads
        and one column per metric (in first-seen order).
    """
    lines = [f'# {title}', '']
    for key in ('commit', 'command', 'device', 'torch'):
        values = list(dict.fromkeys(str(r[key]) for r in records))
        lines.append(f'- {key}: ' + ', '.join(f'`{v}`' for v in values))
    for mode in dict.fromkeys(r['mode'] for r in records):
        rows = [r for r in records if r['mode'] == mode]
        cols = list(dict.fromkeys(k for r in rows for k in r['metrics']))
        table = [[r['model'], r['setting'], r['threads']] +
                 [r['metrics'].get(c) for c in cols] for r in rows]
        lines += [
            '', f'## {mode}', '',
            md_table(['model', 'setting', 'threads'] + cols, table)
        ]
    return '\n'.join(lines) + '\n'


def write_atomic(path: str,
                 text: str,
                 keep_previous: bool = True) -> Optional[str]:
    """Write ``text`` to ``path`` atomically, keeping a different old file.

    The text goes to a temporary file in the same folder, then replaces
    ``path``. If ``path`` exists with different content it is first renamed
    to ``path + '.prev'`` (replacing an older ``.prev``).

    Args:
        path (str): Destination.
        text (str): Content.
        keep_previous (bool): False replaces ``path`` without a ``.prev``
            (a later write of the same run).

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
            if not same and keep_previous:
                kept = path + '.prev'
                os.replace(path, kept)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
    return kept


def dump_json(records: List[Dict]) -> str:
    """Records as indented JSON (non-finite floats as null)."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(records), indent=1) + '\n'


def load(path: str) -> List[Dict]:
    """Records from a JSON file written by :func:`dump_json`; a file in
    another form is refused with its path and the missing field."""
    with open(path, encoding='utf-8') as f:
        records = json.load(f)
    if not isinstance(records, list):
        raise ValueError(f'{path}: expected a list of bench records')
    for i, r in enumerate(records):
        missing = [k for k in FIELDS if k not in r]
        if missing:
            raise ValueError(f'{path}: record {i} has no {missing[0]!r} '
                             f'(a record has {", ".join(FIELDS)})')
    return records
