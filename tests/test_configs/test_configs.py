"""Every config in configs/ builds, and takes one training step (tiny input)."""
import glob
import math
import os.path as osp

import pytest
import torch

import sadinet_mmpose  # noqa: F401  isort: skip
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402

from helpers import make_batch, train_step  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def _tiny(cfg: Config) -> Config:
    """Shrink the crop to 128x128 (the smallest a 5-level hourglass takes)."""
    head = cfg.model.head
    dec = head.decoder
    if dec.get('input_size', (0, 0))[0] > 128:
        dec.input_size = (128, 128)
        dec.heatmap_size = (32, 32)
    bb = cfg.model.backbone
    if bb.get('init_cfg', None) and bb.init_cfg.get('type') == 'Pretrained':
        bb.init_cfg = None  # no download in tests
    return cfg


def test_configs_found():
    names = [osp.basename(p) for p in CONFIGS]
    assert len(CONFIGS) >= 7, names
    assert 'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds_and_trains_one_step(path):
    init_default_scope('mmpose')
    cfg = _tiny(Config.fromfile(path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    k = cfg.model.head.out_channels
    inputs, samples = make_batch(cfg.model.head.decoder, 2, k)
    before = [p.detach().clone() for p in model.parameters()]
    losses = train_step(model, inputs, samples)
    assert losses and all(math.isfinite(v) for v in losses.values()), (path, losses)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert changed > 0.9 * len(before), f'{path}: only {changed}/{len(before)} tensors updated'
