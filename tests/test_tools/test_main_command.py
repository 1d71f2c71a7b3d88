"""The README's main command, on a shortened schedule."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))


def test_fresh_work_dir_never_reuses_one_with_checkpoints(tmp_path):
    from main import fresh_work_dir
    base = tmp_path / 'main'
    assert fresh_work_dir(str(base)) == str(base), 'a new folder is used as is'
    base.mkdir()
    (base / 'epoch_1.pth').write_bytes(b'x')
    assert fresh_work_dir(str(base)) == f'{base}-2', 'a folder with checkpoints is kept'
    (tmp_path / 'main-2').mkdir()
    (tmp_path / 'main-2' / 'best_PCK_epoch_1.pth').write_bytes(b'x')
    assert fresh_work_dir(str(base)) == f'{base}-3'


@pytest.mark.slow
def test_main_command_short_schedule(tmp_path):
    work = tmp_path / 'work'
    cmd = [sys.executable, osp.join(REPO, 'tools', 'main.py'), '--epochs', '1',
           '--train-images', '64', '--val-images', '16', '--batch-size', '16',
           '--num-workers', '0', '--pictures', '2',
           '--data-root', str(tmp_path / 'data'), '--work-dir', str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert 'Epoch(train)' in out, 'progress must be shown'
    assert glob.glob(str(work / '*.pth')), 'checkpoint missing'
    assert glob.glob(str(work / '*' / '*.log')), 'training log missing'
    metrics = json.loads((work / 'metrics.json').read_text())
    assert 'PCKh' in metrics or 'PCK' in metrics, metrics
    summary = (work / 'summary.md').read_text()
    assert summary.startswith('# SADI-Net main job')
    assert '## Is sigma calibrated?' in summary, summary
    for k in (1, 2, 3):
        assert 0 <= metrics[f'sigma_within_{k}'] <= 100, metrics
    assert metrics['sigma_within_1'] <= metrics['sigma_within_3']
    pictures = sorted(glob.glob(str(work / 'vis' / '*.png')))
    assert len(pictures) == 2, pictures
    import cv2
    img = cv2.imread(pictures[0])
    assert img is not None and img.shape[1] == 4 * img.shape[0], img.shape
