"""The shipped DLM configs train with the balanced chi-weighted loss."""
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
def test_dlm_configs_sum_h1_over_pixels(path):
    if '_base_' in path:
        pytest.skip('a base file, not a model')
    cfg = Config.fromfile(path)
    head = cfg.model.get('head') or {}
    if head.get('type') != 'DLMHead':
        return
    loss = head.get('loss', {})
    assert loss.get('type') == 'ChiWeightedLoss', path
    assert loss.get('h1_reduction') == 'sum', (
        f'{path}: the study (docs/ablation.md) chose h1_reduction="sum"')
