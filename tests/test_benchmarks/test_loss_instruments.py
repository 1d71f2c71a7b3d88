"""The loss instruments: diagnostics overhead and the H2 forms' cost."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from helpers import BENCHMARKS, REPO  # noqa: E402


@pytest.mark.slow
def test_grad_diag_overhead_writes_its_table(tmp_path):
    out = tmp_path / 'gd.md'
    proc = subprocess.run([
        sys.executable,
        osp.join(BENCHMARKS, 'grad_diag_overhead.py'), '--batch', '2',
        '--rounds', '1', '--steps', '1', '--out',
        str(out)
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert 'diagnostics off' in text and 'at the default interval' in text
    raw = json.loads((tmp_path / 'gd.json').read_text())
    assert len(raw['s_per_step_on']) == len(raw['s_per_step_off']) == 1


def test_loss_cost_counts_window_points_not_the_heatmap(tmp_path):
    out = tmp_path / 'lc.md'
    proc = subprocess.run([
        sys.executable,
        osp.join(BENCHMARKS,
                 'loss_cost.py'), '--batch', '2', '--keypoints', '3',
        '--heatmap', '32', '--windows', '3', '5', '--repeats', '1', '--out',
        str(out)
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / 'lc.json').read_text())['rows']
    points = {(r['h2_loss'], r['window']): r['flow_points'] for r in rows}
    # the NLL sees the B*K ground-truth points; the MSE's two window renders
    # (location and shape) 2*B*K*(w*w + 1)
    assert points[('nll', None)] == 2 * 3
    assert points[('mse', 3)] == 2 * 2 * 3 * (9 + 1)
    assert points[('mse', 5)] == 2 * 2 * 3 * (25 + 1)
    assert all(r['saved_mb'] > 0 for r in rows)
    assert '| mse | 5 |' in out.read_text()
