"""Tests of FlowHeatmapCodec: encoding, round trip, packing."""
import numpy as np
import pytest
from mmpose.codecs.utils import generate_unbiased_gaussian_heatmaps
from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
from mmpose.registry import KEYPOINT_CODECS

import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)

CFG = dict(
    type='FlowHeatmapCodec',
    input_size=(256, 192),
    heatmap_size=(64, 48),
    sigma=2.0)


def _codec(**kwargs):
    return KEYPOINT_CODECS.build({**CFG, **kwargs})


def test_encode_outputs():
    codec = _codec()
    kp = np.array([[[128., 96.], [10.5, 20.25], [300., 50.], [-1., 5.],
                    [np.nan, np.nan], [60., 60.]]], np.float32)
    vis = np.array([[1, 1, 1, 1, 0, 0]], np.float32)
    enc = codec.encode(kp, vis)
    assert enc['heatmaps'].shape == (6, 48, 64), 'heatmaps (K, H, W)'
    assert enc['keypoint_labels'].shape == (1, 6, 2), 'labels (N, K, 2)'
    np.testing.assert_allclose(
        enc['keypoint_labels'][0, :2],
        [[128.5 / 256, 96.5 / 192], [11. / 256, 20.75 / 192]],
        rtol=1e-6,
        err_msg='labels are (keypoints + 0.5) / input_size: pixel centres')
    np.testing.assert_array_equal(
        enc['keypoint_weights'], [[1, 1, 0, 0, 0, 0]],
        err_msg='weights: 0 for out-of-crop (right, left) and invisible')
    assert not enc['heatmaps'][2:].any(), \
        'no heatmap for out-of-crop / invisible joints'
    # at (u + 0.5) / stride - 0.5 on the heatmap: pixel centres aligned
    ref, _ = generate_unbiased_gaussian_heatmaps(
        (64, 48), (kp[:, :2] + 0.5) / 4 - 0.5, vis[:, :2], 2.0)
    np.testing.assert_allclose(
        enc['heatmaps'][:2],
        ref,
        atol=1e-6,
        err_msg='H1 target is MMPose\'s unbiased Gaussian')
    for v in enc.values():
        assert v.dtype == np.float32, 'all encoded arrays are float32'


@pytest.mark.parametrize('refine', ['dark', 'quarter'])
def test_round_trip(refine):
    codec = _codec(refine=refine)
    rng = np.random.default_rng(0)
    # away from borders: >= 4 heatmap px (16 input px) inside
    kp = np.stack([rng.uniform(16, 240, 40),
                   rng.uniform(16, 176, 40)], -1)[None].astype(np.float32)
    keypoints, scores = codec.decode(codec.encode(kp)['heatmaps'])
    err = np.abs(keypoints - kp).max() / 4  # in heatmap pixels
    bound = 0.1 if refine == 'dark' else 0.5
    assert keypoints.shape == (1, 40, 2) and scores.shape == (1, 40), \
        f'{refine}: decode shapes'
    assert err < bound, f'{refine}: round trip {err:.4f} hm px >= {bound}'


def test_decode_labels_and_sigmas():
    codec = _codec()
    labels = np.array([[[0.5, 0.25]]], np.float32)
    sig = np.array([[[0.1, 0.3]]], np.float32)
    kp, scores = codec.decode_labels(labels, sig)
    np.testing.assert_allclose(
        kp, [[[127.5, 47.5]]], err_msg='label * w - 0.5 -> px')
    np.testing.assert_allclose(scores, [[0.8]], err_msg='score 1 - mean sig')
    np.testing.assert_allclose(
        codec.sigmas_to_input(sig), [[[25.6, 57.6]]],
        rtol=1e-6,
        err_msg='sigma -> px')


def test_decode_rejects_wrong_heatmap_size():
    with pytest.raises(ValueError, match='heatmap_size'):
        _codec().decode(np.zeros((3, 64, 64), np.float32))


def test_generate_target_and_pack_keep_every_key():
    """The codec's mapping tables replace PackPoseInputs' defaults: the
    labels and heatmaps reach the data sample and head_size survives."""
    codec_cfg = {k: v for k, v in CFG.items()}
    results = dict(
        img=np.zeros((192, 256, 3), np.uint8),
        keypoints=np.array([[[100., 90.], [20., 30.]]], np.float32),
        keypoints_visible=np.array([[1., 1.]], np.float32),
        transformed_keypoints=np.array([[[100., 90.], [20., 30.]]],
                                       np.float32),
        head_size=np.array([33.], np.float32),
        bbox=np.array([[0, 0, 256, 192]], np.float32),
    )
    results = GenerateTarget(encoder=codec_cfg)(results)
    packed = PackPoseInputs()(results)['data_samples']
    assert packed.gt_fields.heatmaps.shape == (2, 48, 64), 'heatmaps packed'
    assert packed.gt_instance_labels.keypoint_labels.shape == (1, 2, 2), \
        'keypoint_labels packed'
    assert packed.gt_instance_labels.keypoint_weights.shape == (1, 2), \
        'keypoint_weights packed'
    assert 'head_size' in packed.gt_instances, \
        'head_size kept (no instance_mapping_table)'
    assert not _codec().instance_mapping_table, 'no instance table'
