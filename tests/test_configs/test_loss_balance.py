"""The shipped DLM configs train with the shipped chi-weighted loss (L_H1
summed over the pixels), not one of the study's forms."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import sadinet_mmpose  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_dlm_configs_use_the_shipped_loss(path):
    if '_base_' in path:
        pytest.skip('a base file, not a model')
    cfg = Config.fromfile(path)
    head = cfg.model.get('head') or {}
    if head.get('type') != 'DLMHead':
        return
    loss = head.get('loss', {})
    assert loss.get('type') == 'ChiWeightedLoss', path
    from mmpose.registry import MODELS
    built = MODELS.build(loss)
    assert type(built).__name__ == 'ChiWeightedLoss', path
