"""The torch-free decoding functions against MMPose's own numpy functions
and against the codec's vectorised PyTorch decoding."""
import numpy as np
import pytest
import torch
from mmpose.codecs.utils import (gaussian_blur, get_heatmap_maximum,
                                 refine_keypoints, refine_keypoints_dark)

from sadinet_mmpose.codecs import FlowHeatmapCodec
from sadinet_mmpose.codecs.decoding import (blur_heatmaps, decode_heatmaps,
                                            heatmap_maxima, heatmap_to_input,
                                            peak_scales, refine_dark,
                                            refine_quarter)

import sadinet_mmpose  # noqa: F401  isort: skip


def _gaussian_maps(K=16, H=64, W=48, seed=0):
    """Gaussian blobs at random sub-pixel places, some near the border,
    one all-negative map (its keypoint is -1)."""
    rng = np.random.RandomState(seed)
    ys, xs = np.mgrid[:H, :W]
    maps = []
    for k in range(K):
        cx, cy = rng.uniform(-1, W), rng.uniform(-1, H)
        s = rng.uniform(1.5, 3.)
        maps.append(
            np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * s * s)) *
            rng.uniform(0.3, 1.))
    maps = np.stack(maps).astype(np.float32)
    maps[3] -= 2.
    return maps


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_maxima_blur_and_refinements_equal_mmpose(seed):
    maps = _gaussian_maps(seed=seed)
    locs, vals = heatmap_maxima(maps[None])
    ref_locs, ref_vals = get_heatmap_maximum(maps)
    assert np.array_equal(locs[0], ref_locs) and np.array_equal(
        vals[0], ref_vals)
    assert np.allclose(
        blur_heatmaps(maps, 11), gaussian_blur(maps.copy(), 11),
        atol=1e-6), 'blur differs from mmpose gaussian_blur'
    dark = refine_dark(locs, maps[None], 11)
    ref = refine_keypoints_dark(ref_locs[None].copy(), maps.copy(), 11)
    assert np.allclose(dark, ref, atol=1e-4), \
        f'seed {seed}: DARK differs by {np.abs(dark - ref).max()}'
    quarter = refine_quarter(locs, maps[None])
    ref = refine_keypoints(ref_locs[None].copy(), maps)
    assert np.array_equal(quarter, ref), f'seed {seed}: quarter differs'


@pytest.mark.parametrize('refine', ['dark', 'quarter', 'none'])
def test_codec_decode_paths_agree(refine):
    """``decode`` (numpy, per sample) and ``batch_decode_tensor`` (torch)."""
    codec = FlowHeatmapCodec(
        input_size=(192, 256), heatmap_size=(48, 64), refine=refine)
    batch = np.stack([_gaussian_maps(seed=s) for s in range(3)])
    kt, st = codec.batch_decode_tensor(torch.from_numpy(batch))
    kn, sn = decode_heatmaps(batch, refine)
    assert np.allclose(
        heatmap_to_input(kn, codec.input_size, codec.heatmap_size),
        kt,
        atol=1e-3), refine
    for i in range(3):
        k1, s1 = codec.decode(batch[i])
        assert np.allclose(k1[0], kt[i], atol=1e-3) and \
            np.allclose(s1[0], st[i]), f'{refine}: sample {i}'
    assert (kn[:, 3] == -1).all(), 'a map without a positive value was refined'


def test_bad_refine_and_kernel_are_named():
    with pytest.raises(ValueError, match="refine must be one of"):
        decode_heatmaps(np.zeros((1, 1, 8, 8)), 'udp')
    with pytest.raises(ValueError, match='must be odd'):
        blur_heatmaps(np.zeros((1, 8, 8)), 4)


@pytest.mark.parametrize('blur', [1, 11])
def test_peak_scales_of_a_known_gaussian(blur):
    """An anisotropic Gaussian peak (scales 3 and 1.5 px) gives its scales
    back; the size-11 blur adds its own 2 px in quadrature."""
    ys, xs = np.mgrid[0:40, 0:48].astype(np.float64)
    hm = np.exp(-(xs - 20)**2 / (2 * 3.**2) - (ys - 16)**2 / (2 * 1.5**2))
    hm = np.stack([hm, np.zeros_like(hm)])[None]  # (1, 2, H, W)
    kpts = np.array([[[20., 16.], [0., 0.]]])
    got = peak_scales(kpts, hm, blur)
    want = np.hypot([3., 1.5], 2.) if blur == 11 else np.array([3., 1.5])
    np.testing.assert_allclose(got[0, 0], want, rtol=0.02)
    assert np.isinf(got[0, 1]).all(), 'a peak at the border has no scale'
