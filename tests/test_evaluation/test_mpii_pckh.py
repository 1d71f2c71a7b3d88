"""MPII PCKh with MMPose's MpiiPCKAccuracy on the real sample images.

Head boxes come from the fixture (a square of side |head top - upper neck|);
the expected numbers are computed by hand from them.
"""
import numpy as np
import pytest
from mmpose.datasets import MpiiDataset
from mmpose.evaluation import MpiiPCKAccuracy

import sadinet_mmpose  # noqa: F401

JOINT_GROUPS = dict(
    Head=[9],
    Shoulder=[12, 13],
    Elbow=[11, 14],
    Wrist=[10, 15],
    Hip=[2, 3],
    Knee=[1, 4],
    Ankle=[0, 5])


def _run_metric(ds, offsets):
    """offsets: (N, 16, 2) added to the ground truth, in pixels. MMPose's
    metric adds 1 to predictions (1-based MPII), so predictions are given
    as gt - 1 + offset."""
    metric = MpiiPCKAccuracy()
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        samples.append(
            dict(
                pred_instances=dict(keypoints=info['keypoints'] - 1. +
                                    offsets[i][None]),
                gt_instances=dict(
                    keypoints=info['keypoints'],
                    keypoints_visible=info['keypoints_visible'],
                    head_size=info['head_size'])))
    metric.process([], samples)
    return metric.compute_metrics(metric.results)


def _dataset(mpii_sample_dir, ann, hb, **kw):
    return MpiiDataset(
        ann_file=ann,
        headbox_file=hb,
        test_mode=True,
        data_prefix=dict(img=f'{mpii_sample_dir}/images/'),
        **kw)


def test_pckh_perfect_and_shifted(mpii_sample_dir, mpii_sample_headboxes):
    ann, hb, sizes = mpii_sample_headboxes
    ds = _dataset(mpii_sample_dir, ann, hb)
    assert len(ds) == 5
    got = np.array([ds.get_data_info(i)['head_size'].item() for i in range(5)])
    np.testing.assert_allclose(
        got, sizes, rtol=1e-5, err_msg='head_size = 0.6 x head-box diagonal')
    perfect = _run_metric(ds, np.zeros((5, 16, 2)))
    assert perfect['PCK'] == pytest.approx(100.), 'perfect predictions'

    # wrists and ankles off by 0.6 head sizes (miss), the rest by 0.3 (hit)
    offsets = np.zeros((5, 16, 2))
    offsets[:, :, 0] = 0.3 * sizes[:, None]
    for j in (10, 15, 0, 5):
        offsets[:, j, 0] = 0.6 * sizes
    res = _run_metric(ds, offsets)
    vis = np.stack(
        [ds.get_data_info(i)['keypoints_visible'][0] for i in range(5)]) > 0
    counts = vis.sum(0).astype(float)
    counts[6:8] = 0  # pelvis and thorax are not in the MPII mean
    expected_mean = 100. * (counts.sum() - counts[[0, 5, 10, 15]].sum()) / \
        counts.sum()
    assert res['PCK'] == pytest.approx(expected_mean, abs=1e-4), \
        'mean PCKh with wrists/ankles missed'
    for part, expect in dict(Head=100, Shoulder=100, Wrist=0, Ankle=0).items():
        assert res[f'{part} PCK'] == pytest.approx(expect), part

    # just inside / just outside the threshold 0.5 head sizes
    for f, expect in ((0.49, 100.), (0.51, 0.)):
        offsets = np.zeros((5, 16, 2))
        offsets[..., 1] = f * sizes[:, None]
        assert _run_metric(ds, offsets)['PCK'] == pytest.approx(expect), f


def test_pckh_through_test_pipeline(mpii_sample_dir, mpii_sample_headboxes):
    """head_size survives the stock test pipeline into gt_instances."""
    ann, hb, sizes = mpii_sample_headboxes
    ds = _dataset(
        mpii_sample_dir,
        ann,
        hb,
        indices=[0],
        pipeline=[
            dict(type='SafeLoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=(64, 64)),
            dict(type='PackPoseInputs')
        ])
    out = ds[0]
    assert out['data_samples'].gt_instances.head_size.item() == \
        pytest.approx(sizes[0], rel=1e-5)
