"""The speed-setting check on constructed study records with known
differences."""
import json
import os.path as osp

from helpers import BENCHMARKS, load_tool


def _write(folder, variant, seed, pck, pck01, iter_s):
    path = folder / 'study_runs' / variant / f'it630_seed{seed}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            dict(
                variant=variant,
                seed=seed,
                status='ok',
                iter_s_median=iter_s,
                eval={'test/h1': {
                    'PCK': pck,
                    'PCK@0.1': pck01
                }})))


def test_difference_against_the_seed_spread(tmp_path):
    tool = load_tool('speed_check.py', osp.join(BENCHMARKS, 'ablation'))
    a, b = tmp_path / 'a', tmp_path / 'b'
    for seed, (x, y) in enumerate([(90., 60.), (91., 61.), (92., 62.)]):
        _write(a, 'f2', seed, x, y, 1.2)
        # PCKh@0.5 moves by 0.5 (range 2: within); PCKh@0.1 by 5 (not)
        _write(b, 'f2', seed, x + 0.5, y + 5., 0.8)
    _write(a, 'b', 0, 90., 60., 0.5)  # no seed in common with b/
    out = tmp_path / 'page.md'
    assert tool.main(
        [str(a), str(b), '--labels', 'nchw', 'nhwc', '--out',
         str(out)]) == 0
    page = out.read_text()
    assert ('| f2 | PCKh@0.5 | 0, 1, 2 | 90.00, 91.00, 92.00 (mean 91.00) | '
            '90.50, 91.50, 92.50 (mean 91.50) | +0.50 | 2.00 | yes | '
            '1.200 -> 0.800 |') in page
    assert '| f2 | PCKh@0.1 |' in page and '| +5.00 | 2.00 | no |' in page
    assert '| b |' not in page
    rows = json.loads(out.with_suffix('.json').read_text())['rows']
    assert [r['within'] for r in rows] == [True, False]
    assert tool.main(
        [str(a),
         str(tmp_path / 'empty'), '--out',
         str(tmp_path / 'x.md')]) == 2
