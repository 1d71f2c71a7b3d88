"""One tiny SADI-Net trained on the MPII sample and exported to ONNX, shared
by the deployment tests."""
import contextlib
import importlib.util
import io
import json
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import REPO  # noqa: E402
from tiny_configs import sadinet_tiny_config  # noqa: E402


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
        out.append((osp.join(sample_dir, 'images', ann['image']),
                    np.array([c[0] - half, c[1] - half, c[0] + half,
                              c[1] + half], dtype=np.float32)))
    return out


@pytest.fixture(scope='session')
def export_tool():
    """``tools/deploy/export_onnx.py`` as a module (its ``main(argv)``)."""
    path = osp.join(REPO, 'tools', 'deploy', 'export_onnx.py')
    spec = importlib.util.spec_from_file_location('sadinet_export_onnx', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def trained_tiny(tmp_path_factory, mpii_sample_dir):
    """A tiny SADI-Net trained for one epoch (one iteration of 4) by mmengine's
    Runner on the five sample images; its config and checkpoints
    (``trained_ckpt`` as saved, ``ckpt`` with peaked heatmaps)."""
    import sadinet_mmpose  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner
    root = tmp_path_factory.mktemp('deploy_tiny')
    cfg_file = root / 'tiny_sadinet.py'
    # the tiny SADI-Net with a 5x5 H1 output layer (see below)
    text = sadinet_tiny_config(mpii_sample_dir, max_epochs=1,
                               batch_size=4).replace(
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
    mix = 20 * torch.randn(weight.shape[:2],
                           generator=torch.Generator().manual_seed(0)).abs()
    state['head.h1_branches.0.0.weight'] = mix[:, :, None, None] * gauss
    state['head.h1_branches.0.0.bias'].zero_()
    peaked = root / 'work' / 'peaked.pth'
    torch.save(ckpt, str(peaked))
    return SimpleNamespace(root=root, cfg=str(cfg_file), ckpt=str(peaked),
                           trained_ckpt=str(trained), data=mpii_sample_dir)


@pytest.fixture(scope='session')
def tiny_onnx(trained_tiny, export_tool, tmp_path_factory):
    """The trained tiny model exported with a dynamic batch (exit status
    and file)."""
    out = tmp_path_factory.mktemp('deploy_onnx') / 'tiny.onnx'
    rc = export_tool.main([trained_tiny.cfg, trained_tiny.ckpt, '--out',
                           str(out), '--dynamic-batch'])
    return SimpleNamespace(rc=rc, path=str(out))


@pytest.fixture(scope='session')
def tiny_onnx_b3(trained_tiny, export_tool, tmp_path_factory):
    """The trained tiny model exported by the command line with a fixed
    batch of 3 and an explicit input size (exit status, file, printout)."""
    out = tmp_path_factory.mktemp('deploy_onnx_b3') / 'tiny_b3.onnx'
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        rc = export_tool.main([trained_tiny.cfg, trained_tiny.ckpt, '--out',
                               str(out), '--batch', '3', '--input-size',
                               '64', '64'])
    return SimpleNamespace(rc=rc, path=str(out), text=text.getvalue())
