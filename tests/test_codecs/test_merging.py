"""codecs/merging: numpy and torch give the same numbers, and both agree
with MMPose's flip functions and with ``grid_sample``'s bilinear sampling."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpose.models.utils.tta import flip_coordinates, flip_heatmaps

from sadinet_mmpose.codecs import merging

import sadinet_mmpose  # noqa: F401  isort: skip

FLIP = [1, 0, 3, 2]


def _both(fn, *arrays, **kwargs):
    """``fn`` on numpy arrays and on tensors, both results as numpy."""
    a = fn(*[x.copy() for x in arrays], **kwargs)
    t = fn(*[torch.from_numpy(x.copy()) for x in arrays], **kwargs)
    assert isinstance(a, np.ndarray) and isinstance(t, torch.Tensor)
    return a, t.numpy()


@pytest.mark.parametrize('shift', [False, True])
def test_flip_back_heatmaps_is_mmposes_flip(shift):
    hm = np.random.RandomState(0).rand(2, 4, 16, 12).astype(np.float32)
    a, t = _both(
        merging.flip_back_heatmaps, hm, flip_indices=FLIP, shift=shift)
    ref = flip_heatmaps(
        torch.from_numpy(hm.copy()),
        flip_mode='heatmap',
        flip_indices=FLIP,
        shift_heatmap=shift).numpy()
    assert np.array_equal(a, ref) and np.array_equal(t, ref)


@pytest.mark.parametrize('shift', [False, True])
def test_flip_back_labels_is_mmposes_flip(shift):
    mu = np.random.RandomState(1).rand(3, 4, 2).astype(np.float32)
    a, t = _both(
        merging.flip_back_labels,
        mu,
        flip_indices=FLIP,
        shift=shift,
        input_width=64)
    ref = flip_coordinates(
        torch.from_numpy(mu.copy()),
        flip_indices=FLIP,
        shift_coords=shift,
        input_size=(64, 64)).numpy()
    np.testing.assert_allclose(a, ref, atol=1e-7)
    np.testing.assert_allclose(t, ref, atol=1e-7)
    sa, st = _both(merging.flip_back_sigmas, mu, flip_indices=FLIP)
    assert np.array_equal(sa, mu[:, FLIP]) and np.array_equal(st, sa)


def test_blend_is_chi_weighted():
    rng = np.random.RandomState(2)
    h1, h2 = rng.rand(2, 2, 4, 8, 8).astype(np.float32)
    sig = rng.rand(2, 4, 2).astype(np.float32) * 1.5  # some chi clipped
    a, t = _both(merging.blend_heatmaps, h1, h2, sig)
    chi = np.clip(sig.mean(-1), 0, 1)[..., None, None]
    np.testing.assert_allclose(a, (1 - chi) * h1 + chi * h2, rtol=1e-6)
    np.testing.assert_allclose(t, a, rtol=1e-6)


def _grid_sample_merge(maps, scales, centre_offset):
    """An independent form: bilinear ``grid_sample`` at c + (u - c) / s with
    zero padding, averaged with the sampled coverage as weight."""
    total, weight = 0., 0.
    for hm, s in zip(maps, scales):
        B, K, H, W = hm.shape
        cx, cy = W / 2. - centre_offset, H / 2. - centre_offset
        us = (torch.arange(W, dtype=torch.float64) - cx) / s + cx
        vs = (torch.arange(H, dtype=torch.float64) - cy) / s + cy
        gx, gy = 2 * us / (W - 1) - 1, 2 * vs / (H - 1) - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing='ij')[::-1],
                           -1)[None].float()
        total = total + F.grid_sample(
            hm.reshape(1, B * K, H, W), grid, align_corners=True).reshape(
                hm.shape)
        weight = weight + F.grid_sample(
            torch.ones(1, 1, H, W), grid, align_corners=True)
    return (total / weight).numpy()


@pytest.mark.parametrize('centre_offset', [0., 0.5])
def test_scale_merge_is_bilinear_sampling(centre_offset):
    rng = np.random.RandomState(3)
    scales = [1.0, 0.75, 1.25, 1.5]
    maps = [rng.rand(2, 4, 16, 12).astype(np.float32) for _ in scales]
    a = merging.merge_scale_heatmaps(maps, scales, centre_offset)
    t = merging.merge_scale_heatmaps([torch.from_numpy(m) for m in maps],
                                     scales, centre_offset).numpy()
    ref = _grid_sample_merge([torch.from_numpy(m) for m in maps], scales,
                             centre_offset)
    np.testing.assert_allclose(a, ref, atol=1e-5)
    np.testing.assert_allclose(t, a, atol=1e-5)
    with pytest.raises(ValueError, match='the scale 1.0'):
        merging.merge_scale_heatmaps(maps[1:], scales[1:])


def test_scale_merge_of_points_and_sigmas():
    """A point at p in the scale-s crop is at c + s (p - c) in the scale-1
    crop; sigmas scale by s."""
    scales = [1.0, 0.5, 2.0]
    want = np.array([[[0.7, 0.2]]], np.float32)
    pts = [(want - 0.5) / s + 0.5 for s in scales]
    a, t = _both(lambda *p: merging.merge_scale_points(p, scales, 0.5), *pts)
    np.testing.assert_allclose(a, want, atol=1e-6)
    np.testing.assert_allclose(t, want, atol=1e-6)
    sig = [np.full((1, 1, 2), 0.1 / s, np.float32) for s in scales]
    a, t = _both(lambda *x: merging.merge_scale_sigmas(x, scales), *sig)
    np.testing.assert_allclose(a, 0.1, atol=1e-7)
    np.testing.assert_allclose(t, 0.1, atol=1e-7)


def test_decode_source_is_checked():
    assert merging.check_decode_source('mu', 'x') == 'mu'
    with pytest.raises(ValueError, match="model.test_cfg.decode_source must"):
        merging.check_decode_source('h2', 'model.test_cfg.decode_source')
