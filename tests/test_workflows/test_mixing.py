"""The project's parts inside stock MMPose models (configs/mixing/).

Each config is built as written (only the ImageNet download of HRNet is
dropped and the crop shrunk to 128x128) and takes one training step on a
random batch encoded by its own codec; then the model predicts on it.
"""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402

from helpers import make_batch, train_step  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIXING = osp.join(REPO, 'configs', 'mixing')


def load_tiny(name):
    """The config ``configs/mixing/<name>`` at a 128x128 crop, offline."""
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(MIXING, name))
    dec = cfg.model.head.decoder
    dec.input_size, dec.heatmap_size = (128, 128), (32, 32)
    init = cfg.model.backbone.get('init_cfg', None)
    if isinstance(init, dict) and init.get('type') == 'Pretrained':
        cfg.model.backbone.init_cfg = None  # no download in tests
    return cfg


def train_and_predict(cfg, batch_size=2):
    """Build ``cfg.model``, one Adam step, then predict; returns the parts."""
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    k = cfg.model.head.out_channels
    inputs, samples = make_batch(cfg.model.head.decoder, batch_size, k)
    before = [p.detach().clone() for p in model.parameters()]
    losses = train_step(model, inputs, samples)
    changed = sum(not torch.equal(a, b)
                  for a, b in zip(before, model.parameters()))
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    return model, losses, changed / len(before), preds


@pytest.mark.slow
def test_hrnet_backbone_under_sfm_neck_and_dlm_head():
    cfg = load_tiny('td-hm_hrnet-w32-sfm-dlm_8xb64-210e_mpii-256x256.py')
    assert cfg.model.backbone.type == 'HRNet', ('mixing (a) must use stock '
                                                'HRNet')
    assert cfg.model.backbone.extra.stage4.multiscale_output is True
    encoders = [
        t['encoder']['type'] for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == 'GenerateTarget'
    ]
    assert encoders == ['FlowHeatmapCodec'], \
        f'mixing (a): the train pipeline encodes with {encoders}'
    model, losses, changed, preds = train_and_predict(cfg)
    assert {'h1_mse', 'h2_nll'} <= set(losses), f'mixing (a): losses {losses}'
    assert all(math.isfinite(v)
               for v in losses.values()), f'mixing (a): {losses}'
    assert changed > 0.9, (f'mixing (a): only {changed:.0%} of tensors were '
                           f'updated')
    sig = np.asarray(preds[0].pred_instances.keypoint_sigmas)
    assert sig.shape == (1, 16, 2), f'mixing (a): keypoint_sigmas {sig.shape}'


def test_rfm_backbone_under_stock_head_codec_and_estimator():
    cfg = load_tiny('td-hm_rfm-heatmaphead_8xb64-210e_mpii-256x256.py')
    assert cfg.model.type == 'TopdownPoseEstimator'
    assert cfg.model.head.decoder.type == 'MSRAHeatmap'
    assert cfg.model.backbone.type == 'RFMHourglass'
    assert cfg.model.backbone.multiscale_out is False
    # shrink the hourglass: the stock widths take ~25 s per step on 2 cores
    cfg.model.backbone.update(
        stage_channels=(32, 32, 32, 32, 32, 32),
        stage_blocks=(1, 1, 1, 1, 1, 1),
        feat_channel=32)
    cfg.model.head.in_channels = 32
    for head in (cfg.model.head,
                 dict(
                     type='HeatmapHead',
                     in_channels=32,
                     out_channels=16,
                     deconv_out_channels=None,
                     loss=dict(type='KeypointMSELoss', use_target_weight=True),
                     decoder=cfg.model.head.decoder)):
        cfg.model.head = head
        model, losses, changed, preds = train_and_predict(cfg)
        name = head['type']
        assert all(math.isfinite(v)
                   for v in losses.values()), f'RFM + {name}: {losses}'
        assert changed > 0.9, (f'RFM + {name}: only {changed:.0%} of tensors '
                               f'updated')
        assert preds[0].pred_instances.keypoints.shape == (1, 16, 2)
        used = {n for n, p in model.named_parameters() if p.grad is not None}
        unused = [n for n, _ in model.named_parameters() if n not in used]
        assert not unused, f'RFM + {name}: parameters without gradient (DDP ' \
            f'would need find_unused_parameters): {unused[:5]}'


@pytest.mark.slow
def test_dilated_block_inside_hrnet():
    from sadinet_mmpose.models.backbones import DilatedResidualBlock
    cfg = load_tiny('td-hm_hrnet-w32-dilated_8xb64-210e_mpii-256x256.py')
    extra = cfg.model.backbone.extra
    assert cfg.model.backbone.type == 'DilatedHRNet'
    assert [extra[f'stage{i}'].block for i in range(1, 5)] == \
        ['BOTTLENECK', 'DILATED', 'DILATED', 'DILATED'], \
        'mixing (c): the BASIC stages must use DILATED'
    model, losses, changed, _ = train_and_predict(cfg)
    blocks = [
        m for m in model.backbone.modules()
        if isinstance(m, DilatedResidualBlock)
    ]
    # HRNet-w32: 4 + 4*3*4 + 3*4*4 basic blocks in stages 2-4
    assert len(
        blocks) == 8 + 48 + 48, f'mixing (c): {len(blocks)} dilated blocks'
    assert all(math.isfinite(v)
               for v in losses.values()), f'mixing (c): {losses}'
    assert changed > 0.9, (f'mixing (c): only {changed:.0%} of tensors were '
                           f'updated')


@pytest.mark.parametrize('name', [
    'td-hm_hrnet-w32-sfm-dlm_8xb64-210e_mpii-256x256.py',
    'td-hm_hrnet-w32-dilated_8xb64-210e_mpii-256x256.py',
])
def test_hrnet_mixing_configs_keep_the_pretrained_download(name):
    """The configs stay usable for real training: ImageNet HRNet init kept."""
    init = Config.fromfile(osp.join(MIXING, name)).model.backbone.init_cfg
    assert init['type'] == 'Pretrained' and \
        'hrnet_w32' in init['checkpoint'], \
        f'{name}: HRNet lost its pretrained init_cfg'
