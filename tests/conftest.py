"""Shared pytest setup for sadinet-mmpose.

Markers:
    slow: end-to-end tests that drive MMPose's runner or subprocesses
        (seconds to minutes each). Quick subset: ``pytest -m "not slow"``.
    gpu: needs CUDA; skipped automatically without it.
"""
# isort: off
# The plugin first: its mmcv-lite placeholders and patches are in place
# before any test module imports MMPose.
import sadinet_mmpose  # noqa: F401
# isort: on
import json
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest

from sample_data import MPII_SAMPLE, check_mpii_sample  # noqa: F401
from tiny_configs import sadinet_tiny_config  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: end-to-end test (runner, subprocess); '
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
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')


@pytest.fixture(scope='session')
def sample_boxes(mpii_sample_dir):
    """(image path, person box xyxy) of the MPII sample annotations: the
    square of side ``scale * 200`` around ``center`` (MPII's person box)."""
    sample_dir = mpii_sample_dir
    with open(osp.join(sample_dir, 'annotations', 'mpii_sample.json')) as f:
        anns = json.load(f)
    out = []
    for ann in anns:
        c = np.asarray(ann['center'], dtype=np.float32)
        half = ann['scale'] * 100.
        out.append(
            (osp.join(sample_dir, 'images', ann['image']),
             np.array([c[0] - half, c[1] - half, c[0] + half, c[1] + half],
                      dtype=np.float32)))
    return out


@pytest.fixture(scope='session')
def trained_tiny(tmp_path_factory, mpii_sample_dir):
    """A tiny SADI-Net trained for one epoch (one iteration of 4) by mmengine's
    Runner on the five sample images; its config and checkpoints
    (``trained_ckpt`` as saved, ``ckpt`` with peaked heatmaps)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    root = tmp_path_factory.mktemp('deploy_tiny')
    cfg_file = root / 'tiny_sadinet.py'
    # the tiny SADI-Net with a 5x5 H1 output layer (see below)
    text = sadinet_tiny_config(
        mpii_sample_dir, max_epochs=1, batch_size=4).replace(
            'decoder=codec)',
            'final_layer=dict(kernel_size=5, padding=2), decoder=codec)', 1)
    assert 'final_layer' in text, 'tiny config: head not found'
    cfg_file.write_text(text)
    cfg = Config.fromfile(str(cfg_file))
    cfg.work_dir = str(root / 'work')
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    Runner.from_cfg(cfg).train()
    trained = root / 'work' / 'epoch_1.pth'
    assert trained.is_file(), 'the tiny training wrote no epoch_1.pth'
    # One iteration leaves H1 nearly flat: every joint's maximum is the same
    # border pixel, where neither DARK nor the flip test changes anything.
    # The H1 output layer is redrawn as a seeded positive mix of the
    # (non-negative) features smoothed by a 5x5 Gaussian (std 1.5): smooth,
    # image-dependent peaks inside the map (zero padding lowers the border),
    # where DARK's Newton step is well conditioned (on unsmoothed random maps
    # a change of 1e-6 in the values moves DARK's result by pixels, so no two
    # implementations can agree). The rest of the trained checkpoint (incl.
    # its dataset_meta) is kept.
    import cv2
    import torch
    ckpt = torch.load(str(trained), map_location='cpu', weights_only=False)
    state = ckpt['state_dict']
    weight = state['head.h1_branches.0.0.weight']
    k1 = cv2.getGaussianKernel(5, 1.5)
    gauss = torch.tensor(k1 @ k1.T, dtype=torch.float32)
    mix = 20 * torch.randn(
        weight.shape[:2], generator=torch.Generator().manual_seed(0)).abs()
    state['head.h1_branches.0.0.weight'] = mix[:, :, None, None] * gauss
    state['head.h1_branches.0.0.bias'].zero_()
    peaked = root / 'work' / 'peaked.pth'
    torch.save(ckpt, str(peaked))
    return SimpleNamespace(
        root=root,
        cfg=str(cfg_file),
        ckpt=str(peaked),
        trained_ckpt=str(trained),
        data=mpii_sample_dir)
