"""MSTopdownPoseEstimator: plain behaviour, heatmap mapping, multi-scale."""
import copy

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModule

import sadinet_mmpose  # noqa: F401
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS, TRANSFORMS
from sadinet_mmpose.models.pose_estimators import (
    aggregate_multiscale_heatmaps, warp_heatmaps_to_reference)


@MODELS.register_module(name='SadinetTestSubsampleBackbone', force=True)
class _Subsample(BaseModule):
    """'Heatmap' = every 4th pixel of the first channel (crop px 4u -> u)."""

    def forward(self, x):
        return (x[:, :1, ::4, ::4].contiguous(), )


@MODELS.register_module(name='SadinetTestSigmaHead', force=True)
class _SigmaHead(HeatmapHead):
    """A heatmap head that adds an extra instance field, like DLMHead."""

    def predict(self, feats, batch_data_samples, test_cfg={}):
        out = super().predict(feats, batch_data_samples, test_cfg)
        preds = out[0] if isinstance(out, tuple) else out
        for p in preds:
            p.keypoint_sigmas = np.full((1, 1, 2), 0.25)
        return out


def _model(test_cfg, head='HeatmapHead', estimator='MSTopdownPoseEstimator',
           codec_type='MSRAHeatmap'):
    codec = dict(type='MSRAHeatmap', input_size=(64, 64),
                 heatmap_size=(16, 16), sigma=2, unbiased=True)
    if codec_type == 'FlowHeatmapCodec':  # decodes the batch at once
        codec = dict(type='FlowHeatmapCodec', input_size=(64, 64),
                     heatmap_size=(16, 16), sigma=2)
    return MODELS.build(
        dict(type=estimator,
             data_preprocessor=dict(type='PoseDataPreprocessor',
                                    mean=[0., 0., 0.], std=[1., 1., 1.]),
             backbone=dict(type='SadinetTestSubsampleBackbone'),
             head=dict(type=head, in_channels=1, out_channels=1,
                       deconv_out_channels=(), final_layer=None,
                       decoder=codec),
             test_cfg=test_cfg)).eval()


def _batch(scales, blob=(110., 90.), sigma=12.):
    h = w = 200
    ys, xs = np.mgrid[0:h, 0:w]
    g = 255. * np.exp(-((xs - blob[0])**2 + (ys - blob[1])**2) /
                      (2 * sigma**2))
    img = np.repeat(g[..., None], 3, -1).astype(np.float32)
    results = dict(img=img, img_path=None, id=0, img_id=0,
                   bbox=np.array([[50., 50., 150., 150.]]),
                   bbox_score=np.ones(1, np.float32),
                   bbox_center=np.array([[100., 100.]]),
                   bbox_scale=np.array([[100., 100.]]),
                   flip_indices=[0])
    affine = TRANSFORMS.build(
        dict(type='MultiScaleTopdownAffine', input_size=(64, 64),
             scales=scales))
    pack = TRANSFORMS.build(
        dict(type='PackPoseInputs',
             meta_keys=('id', 'img_id', 'input_size', 'input_center',
                        'input_scale', 'flip_indices', 'ms_inputs',
                        'ms_scales')))
    return pseudo_collate([pack(affine(results))])


def _predict(model, batch):
    with torch.no_grad():
        return model.test_step(copy.deepcopy(batch))[0].pred_instances


@pytest.mark.parametrize('flip', [False, True])
def test_plain_and_single_scale_equal_topdown(flip):
    batch = _batch([0.8, 1.0, 1.25])
    ref = _predict(_model(dict(flip_test=flip),
                          estimator='TopdownPoseEstimator'), batch)
    for cfg in (dict(flip_test=flip),
                dict(flip_test=flip, multiscale_test=dict(scales=[1.0]))):
        got = _predict(_model(cfg), batch)
        np.testing.assert_array_equal(got.keypoints, ref.keypoints,
                                      err_msg=str(cfg))
        np.testing.assert_array_equal(got.keypoint_scores,
                                      ref.keypoint_scores, err_msg=str(cfg))


def _gaussian(center, sigma, size=32):
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                            torch.arange(size, dtype=torch.float64),
                            indexing='ij')
    return torch.exp(-((xs - center[0])**2 + (ys - center[1])**2) /
                     (2 * sigma**2))[None, None]


def test_warp_maps_perfect_heatmaps_back():
    """A keypoint at u on the scale-1 grid is at c + (u - c) / s on the
    scale-s grid; mapping and averaging must keep it at u."""
    from mmpose.codecs import MSRAHeatmap
    codec = MSRAHeatmap(input_size=(32, 32), heatmap_size=(32, 32), sigma=2,
                        unbiased=True)
    u = np.array([19.3, 11.6])
    c = 16.
    scales = [1.0, 0.75, 1.25, 1.5]
    hms = [_gaussian(c + (u - c) / s, 2. / s).float() for s in scales]
    ident, cover = warp_heatmaps_to_reference(hms[0], 1.0)
    assert torch.equal(ident, hms[0]) and bool((cover == 1).all())
    for s, hm in zip(scales[1:], hms[1:]):
        mapped, _ = warp_heatmaps_to_reference(hm, s)
        kpt, _ = codec.decode(mapped[0].numpy())
        assert np.abs(kpt[0, 0] - u).max() < 0.05, f'scale {s}'
    merged = aggregate_multiscale_heatmaps(hms, scales)
    kpt, _ = codec.decode(merged[0].numpy())
    assert np.abs(kpt[0, 0] - u).max() < 0.05, 'averaged'


@pytest.mark.parametrize('codec_type', ['MSRAHeatmap', 'FlowHeatmapCodec'])
def test_multiscale_blob_decodes_exactly_and_keeps_fields(codec_type):
    blob = (110., 90.)
    batch = _batch([0.8, 1.0, 1.25], blob=blob)
    cfg = dict(flip_test=False, output_heatmaps=True,
               multiscale_test=dict(scales=[0.8, 1.0, 1.25]))
    model = _model(cfg, head='SadinetTestSigmaHead', codec_type=codec_type)
    with torch.no_grad():
        out = model.test_step(copy.deepcopy(batch))[0]
    kpt = out.pred_instances.keypoints[0, 0]
    assert np.abs(kpt - np.array(blob)).max() < 0.5, f'ms keypoint {kpt}'
    assert out.pred_instances.keypoint_sigmas.shape == (1, 1, 2), \
        'extra instance fields of the scale-1 pass are kept'
    assert tuple(out.pred_fields.heatmaps.shape) == (1, 16, 16)
    assert 'ms_inputs' not in out.metainfo, 'crops are dropped after use'


def test_missing_crops_error():
    batch = _batch([1.0])
    model = _model(dict(multiscale_test=dict(scales=[1.0, 1.5])))
    with pytest.raises(KeyError, match='MultiScaleTopdownAffine'):
        _predict(model, batch)
