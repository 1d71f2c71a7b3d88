"""Shared pytest setup for sadinet-mmpose.

Markers:
    slow: end-to-end tests that drive MMPose's runner or subprocesses
        (seconds to minutes each). Quick subset: ``pytest -m "not slow"``.
    gpu: needs CUDA; skipped automatically without it.
"""
import json
import os.path as osp

import numpy as np
import pytest

from sample_data import MPII_SAMPLE, check_mpii_sample  # noqa: F401

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end test (runner, subprocess); '
                            'deselect with -m "not slow"')
    config.addinivalue_line('markers', 'gpu: needs a CUDA device')


def pytest_collection_modifyitems(config, items):
    import torch
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason='needs a CUDA device')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def mpii_sample_dir():
    """The five real MPII images with annotations in ``tests/data``."""
    return check_mpii_sample()


def write_mpii_headboxes(ann_file, out_path):
    """Head boxes for MPII records: a square of side |head top - upper neck|
    centred between them (a stand-in for mpii_gt_val.mat's headboxes_src).

    Returns:
        np.ndarray: head_size (0.6 * box diagonal) per record, shape (N,).
    """
    from scipy.io import savemat
    with open(ann_file) as f:
        anns = json.load(f)
    boxes, sizes = [], []
    for ann in anns:
        j = np.asarray(ann['joints'], dtype=np.float64)
        c = (j[8] + j[9]) / 2.
        side = np.linalg.norm(j[9] - j[8])
        boxes.append([[c[0] - side / 2, c[1] - side / 2],
                      [c[0] + side / 2, c[1] + side / 2]])
        sizes.append(0.6 * np.sqrt(2.) * side)
    savemat(out_path,
            dict(headboxes_src=np.transpose(np.asarray(boxes), (1, 2, 0))))
    return np.asarray(sizes)


@pytest.fixture
def mpii_sample_headboxes(mpii_sample_dir, tmp_path):
    """(ann_file, headbox_file, head_sizes) for the five sample images."""
    ann = osp.join(mpii_sample_dir, 'annotations', 'mpii_sample.json')
    hb = str(tmp_path / 'mpii_gt_val_sample.mat')
    sizes = write_mpii_headboxes(ann, hb)
    return ann, hb, sizes


@pytest.fixture
def mmpose_scope():
    """Build pipeline transforms from MMPose's registry by short names."""
    import sadinet_mmpose  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
