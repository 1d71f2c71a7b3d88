"""The on-device training accuracy against MMPose's numpy version."""
import numpy as np
import pytest
import torch
from mmpose.evaluation.functional import pose_pck_accuracy

from sadinet_mmpose.evaluation import heatmap_pck_accuracy


def _mmpose(output, target, mask):
    _, avg, _ = pose_pck_accuracy(output.numpy(), target.numpy(), mask.numpy())
    return float(avg)


def _gaussians(centres, size):
    ys, xs = torch.meshgrid(
        torch.arange(size[0]), torch.arange(size[1]), indexing='ij')
    d2 = (xs - centres[..., 0, None, None])**2 + (
        ys - centres[..., 1, None, None])**2
    return torch.exp(-d2.float() / 8)


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('size', [(16, 16), (12, 20)])
def test_equals_pose_pck_accuracy(seed, size):
    g = torch.Generator().manual_seed(seed)
    N, K = 6, 5
    centres = torch.stack([
        torch.randint(0, size[1], (N, K), generator=g),
        torch.randint(0, size[0], (N, K), generator=g)
    ], -1)
    target = _gaussians(centres, size)
    jitter = torch.randint(-2, 3, (N, K, 2), generator=g)
    output = _gaussians(centres + jitter, size)
    # some maps all <= 0 (MMPose puts their maximum at (-1, -1))
    output[0, 1] = -torch.rand(size, generator=g)
    target[2, 3] = 0
    mask = torch.rand(N, K, generator=g) > 0.3
    mask[:, 4] = False  # a keypoint with no valid sample is left out
    ours = heatmap_pck_accuracy(output, target, mask)
    assert ours.dim() == 0 and ours.dtype == torch.float32
    assert ours.item() == pytest.approx(
        _mmpose(output, target, mask), abs=1e-6)


def test_no_valid_keypoint_gives_zero_and_perfect_gives_one():
    hm = torch.rand(2, 3, 8, 8)
    none = torch.zeros(2, 3, dtype=torch.bool)
    assert heatmap_pck_accuracy(hm, hm, none).item() == 0.0
    assert _mmpose(hm, hm, none) == 0.0
    assert heatmap_pck_accuracy(hm, hm, ~none).item() == 1.0


def test_bfloat16_input_and_shape_errors():
    # Gaussian peaks (1.0 at the centre, 0.88 next to it) keep their
    # arg-max in bfloat16; uniform noise would not
    hm = _gaussians(
        torch.tensor([[[1, 2], [5, 5], [7, 0]], [[3, 3], [0, 6], [4, 1]]]),
        (8, 8))
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert heatmap_pck_accuracy(hm.bfloat16(), hm, mask).item() == 1.0
    with pytest.raises(ValueError, match='one shape'):
        heatmap_pck_accuracy(hm, hm[:, :2], mask)
    with pytest.raises(ValueError, match=r'mask must be \(2, 3\)'):
        heatmap_pck_accuracy(hm, hm, mask[:, :2])


def test_first_maximum_wins_as_in_numpy():
    hm = torch.zeros(1, 1, 4, 4)
    hm[0, 0, 0, 3] = 1.
    hm[0, 0, 3, 0] = 1.
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 0, 3] = 1.
    mask = torch.ones(1, 1, dtype=torch.bool)
    assert np.argmax(hm.numpy().reshape(-1)) == 3
    assert heatmap_pck_accuracy(hm, target, mask).item() == 1.0
