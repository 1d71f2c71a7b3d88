"""MpiiPCKhAccuracy compares in one frame; KeypointBias measures offsets.

MMPose's MpiiPCKAccuracy adds 1 to predictions for ground truth that its
MpiiDataset leaves 1-based; the project's datasets load 0-based joints, so a
prediction equal to the loaded ground truth must score 100 with no offset.
"""
import numpy as np
import pytest
from mmpose.evaluation import MpiiPCKAccuracy
from mmpose.registry import METRICS

from sadinet_mmpose.datasets import SafeMpiiDataset
from sadinet_mmpose.evaluation import MpiiPCKhAccuracy

import sadinet_mmpose  # noqa: F401  isort: skip


def _samples(ds, offset):
    out = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        out.append(
            dict(
                pred_instances=dict(keypoints=info['keypoints'] + offset),
                gt_instances=dict(
                    keypoints=info['keypoints'],
                    keypoints_visible=info['keypoints_visible'],
                    head_size=info['head_size'])))
    return out


def _run(metric, ds, offset, meta=None):
    metric.dataset_meta = ds.metainfo if meta is None else meta
    metric.process([], _samples(ds, offset))
    return metric.compute_metrics(metric.results)


@pytest.fixture
def sample(mpii_sample_dir, mpii_sample_headboxes):
    ann, hb, sizes = mpii_sample_headboxes
    return SafeMpiiDataset(
        ann_file=ann,
        headbox_file=hb,
        test_mode=True,
        data_prefix=dict(img=f'{mpii_sample_dir}/images/'))


def test_ground_truth_scores_100_with_no_offset(sample):
    res = _run(
        METRICS.build(dict(type='MpiiPCKhAccuracy')), sample, np.zeros(2))
    assert res['PCK'] == pytest.approx(100.)
    assert res['PCK@0.1'] == pytest.approx(100.)
    bias = _run(METRICS.build(dict(type='KeypointBias')), sample, np.zeros(2))
    assert bias['bias_x'] == 0. and bias['bias_y'] == 0.


def test_stock_metric_on_zero_based_truth_is_one_pixel_off(sample):
    """What MMPose's own metric does with the same predictions: it adds 1,
    so the sample's PCKh@0.1 (radius about a pixel for small heads)
    drops while ours stays at 100. The frame guard refuses the pairing; the
    metainfo without its frame marker shows what it prevents."""
    with pytest.raises(ValueError, match='1 px off'):
        _run(MpiiPCKAccuracy(), sample, np.zeros(2))
    unmarked = {
        k: v
        for k, v in sample.metainfo.items()
        if not k.startswith('keypoint_frame')
    }
    stock = _run(MpiiPCKAccuracy(), sample, np.zeros(2), meta=unmarked)
    ours = _run(
        METRICS.build(dict(type='MpiiPCKhAccuracy')), sample, np.zeros(2))
    assert ours['PCK@0.1'] == pytest.approx(100.)
    # the stock result equals ours for predictions 1 px right and down
    shifted = _run(
        METRICS.build(dict(type='MpiiPCKhAccuracy')), sample, np.ones(2))
    for key in ('PCK', 'PCK@0.1', 'Wrist PCK'):
        assert stock[key] == pytest.approx(shifted[key]), key


def test_bias_is_the_mean_signed_error(sample):
    bias = _run(
        METRICS.build(dict(type='KeypointBias')), sample,
        np.array([0.25, -0.5]))
    assert bias['bias_x'] == pytest.approx(0.25)
    assert bias['bias_y'] == pytest.approx(-0.5)
    assert bias['bias_x_std'] == pytest.approx(0., abs=1e-9)


def test_lsp_metric_scores_ground_truth_100():
    from sadinet_mmpose.datasets.lsp_convert import lsp_joints_to_keypoints

    # an LSP release record: 1-based joints (3, 14, 1); loaded 0-based
    raw = np.zeros((3, 14, 1))
    raw[0, :, 0] = np.arange(14) * 3. + 11.
    raw[1, :, 0] = np.arange(14) * 5. + 21.
    kpt, vis, _ = lsp_joints_to_keypoints(raw)
    np.testing.assert_allclose(kpt[0, 0], [10., 20.])
    metric = METRICS.build(dict(type='LSPPCKAccuracy'))
    metric.process([], [
        dict(
            pred_instances=dict(keypoints=kpt),
            gt_instances=dict(keypoints=kpt, keypoints_visible=vis))
    ])
    assert metric.compute_metrics(metric.results)['PCK'] == pytest.approx(100.)


def _small_head_samples(offset, head=8.):
    gt = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(
        1, 16, 2) * 30. + 20.
    return [
        dict(
            pred_instances=dict(keypoints=gt + np.array([offset, 0.])),
            gt_instances=dict(
                keypoints=gt,
                keypoints_visible=np.ones((1, 16)),
                head_size=np.array([[head]])))
    ]


@pytest.mark.parametrize('offset,want01', [(0.79, 100.), (0.81, 0.)])
def test_small_head_pckh_has_no_pixel_offset(offset, want01):
    """Head 8 px: PCKh@0.1 is a radius of 0.8 px, so a 1-px frame error
    (the stock metric's +1) would flip both cases."""
    m = MpiiPCKhAccuracy()
    m.dataset_meta = dict(
        dataset_name='mpii', num_keypoints=16, keypoint_frame='0-based')
    m.process([], _small_head_samples(offset))
    res = m.compute_metrics(m.results)
    assert res['PCK@0.1'] == pytest.approx(want01)
    assert res['PCK'] == pytest.approx(100.)


@pytest.mark.parametrize('offset,auc', [(0., 100.), (0.79, 90.), (1.7, 60.),
                                        (5., 0.)])
def test_pckh_auc_is_the_mean_over_ten_thresholds(offset, auc):
    # head 8 px: thresholds 0.4, 0.8, ..., 4.0 px; an offset below k * 0.4
    # px counts at thresholds k..10
    m = MpiiPCKhAccuracy()
    m.dataset_meta = dict(
        dataset_name='mpii', num_keypoints=16, keypoint_frame='0-based')
    m.process([], _small_head_samples(offset))
    assert m.compute_metrics(m.results)['PCKh-AUC'] == pytest.approx(auc)
