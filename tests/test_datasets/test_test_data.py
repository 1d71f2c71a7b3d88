"""The test data lives in the repository: no test skips for want of it, and
a missing file fails with its name."""
import json
import os.path as osp
import shutil
import subprocess

import cv2
import pytest

from sample_data import MPII_SAMPLE_FILES, check_mpii_sample


def test_mpii_sample_is_inside_the_repository(mpii_sample_dir, repo_root):
    assert osp.commonpath([mpii_sample_dir, repo_root]) == repo_root, \
        f'the MPII sample ({mpii_sample_dir}) lies outside the repository'
    with open(osp.join(mpii_sample_dir, 'annotations',
                       'mpii_sample.json')) as f:
        anns = json.load(f)
    assert len(anns) == 5
    for ann in anns:
        img = cv2.imread(osp.join(mpii_sample_dir, 'images', ann['image']))
        assert img is not None and img.ndim == 3, (f"{ann['image']} does not "
                                                   f"load")
        assert len(ann['joints']) == len(ann['joints_vis']) == 16


def test_mpii_sample_is_tracked_by_git(repo_root):
    """A fresh clone has every file (nothing ignored or left uncommitted)."""
    rel = [
        osp.join('tests', 'data', 'mpii_sample', f) for f in MPII_SAMPLE_FILES
    ]
    proc = subprocess.run(['git', 'ls-files', '--error-unmatch', *rel],
                          cwd=repo_root,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, \
        f'MPII sample files not committed to git: {proc.stderr.strip()}'


def test_missing_sample_file_fails_with_its_name(tmp_path):
    root = tmp_path / 'mpii_sample'
    shutil.copytree(check_mpii_sample(), root)
    (root / 'images' / '052475643.jpg').unlink()
    with pytest.raises(
            pytest.fail.Exception,
            match=r'images/052475643\.jpg missing under'):
        check_mpii_sample(str(root))
