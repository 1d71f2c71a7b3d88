"""The vectorised batch decode equals the per-sample (MMPose) decode."""
import numpy as np
import pytest
import torch
from mmpose.registry import KEYPOINT_CODECS  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip


@pytest.mark.parametrize('refine', ['dark', 'quarter', 'none'])
def test_batch_decode_matches_per_sample_decode(refine):
    codec = KEYPOINT_CODECS.build(
        dict(
            type='FlowHeatmapCodec',
            input_size=(128, 128),
            heatmap_size=(32, 32),
            sigma=2,
            refine=refine))
    rng = np.random.RandomState(0)
    B, K = 5, 7
    kpts = rng.rand(B, K, 2) * 120 + 4
    kpts[0, 0] = [1.0, 1.0]  # at the border: no refinement there
    heatmaps = np.stack([
        codec.encode(kpts[b:b + 1], np.ones((1, K)))['heatmaps']
        for b in range(B)
    ])
    heatmaps += rng.rand(*heatmaps.shape).astype(np.float32) * 0.02
    heatmaps[1, 3] = 0  # an empty heatmap
    got_k, got_s = codec.batch_decode_tensor(torch.from_numpy(heatmaps))
    for b in range(B):
        want_k, want_s = codec.decode(heatmaps[b])
        np.testing.assert_allclose(
            got_s[b],
            want_s[0],
            atol=1e-6,
            err_msg=f'{refine}: scores of sample {b}')
        np.testing.assert_allclose(
            got_k[b],
            want_k[0],
            atol=2e-3,
            err_msg=f'{refine}: keypoints of sample {b}')


def test_batch_decode_rejects_wrong_size():
    codec = KEYPOINT_CODECS.build(
        dict(
            type='FlowHeatmapCodec',
            input_size=(128, 128),
            heatmap_size=(32, 32)))
    with pytest.raises(ValueError, match='heatmap_size'):
        codec.batch_decode_tensor(torch.zeros(1, 2, 16, 16))
