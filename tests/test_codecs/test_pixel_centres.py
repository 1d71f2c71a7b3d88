"""FlowHeatmapCodec's grid is aligned to pixel centres: encode/decode is
exact, and the flip test on an exact target has no bias."""
import numpy as np
import pytest

from sadinet_mmpose.codecs import FlowHeatmapCodec
from sadinet_mmpose.codecs.decoding import (crop_centre_offset,
                                            heatmap_to_input, input_to_heatmap,
                                            input_to_labels, labels_to_input)
from sadinet_mmpose.codecs.merging import flip_back_heatmaps, flip_back_labels

import sadinet_mmpose  # noqa: F401  isort: skip

W_IN, W_HM = 64, 16
CODEC = FlowHeatmapCodec(
    input_size=(W_IN, W_IN), heatmap_size=(W_HM, W_HM), sigma=1.5)
#: (1, K, 2) crop pixels, at least 4 heatmap pixels from the border (DARK's
#: blur is biased next to it, whatever the grid)
POINTS = np.array([[[20.3, 31.6], [40.1, 26.9], [31.5, 31.5], [27.75, 36.25]]],
                  np.float32)


def test_mappings_invert_each_other():
    hm = input_to_heatmap(POINTS, (W_IN, W_IN), (W_HM, W_HM))
    np.testing.assert_allclose(
        heatmap_to_input(hm, (W_IN, W_IN), (W_HM, W_HM)), POINTS, atol=1e-5)
    lab = input_to_labels(POINTS, (W_IN, W_IN))
    np.testing.assert_allclose(
        labels_to_input(lab, (W_IN, W_IN))[0], POINTS, atol=1e-5)
    # the first and last pixel centres map to the first and last heatmap
    # pixels' outer quarter, symmetrically
    ends = input_to_heatmap(
        np.array([0., W_IN - 1.]), (W_IN, W_IN), (W_HM, W_HM))
    assert ends[0] == pytest.approx(W_HM - 1 - ends[1])


def test_encode_decode_is_exact():
    enc = CODEC.encode(POINTS)
    got, _ = CODEC.decode(enc['heatmaps'])
    np.testing.assert_allclose(got, POINTS, atol=0.05)
    got_labels, _ = CODEC.decode_labels(enc['keypoint_labels'])
    np.testing.assert_allclose(got_labels, POINTS, atol=1e-4)


@pytest.mark.parametrize('shift', [False, True])
def test_flip_test_on_exact_targets(shift):
    """The mirrored crop's exact target, flipped back, decodes where the
    crop's does: without the shift exactly; MMPose's one-pixel shift (for
    its u * W / w grid) would move it by a heatmap pixel."""
    K = POINTS.shape[1]
    mirrored = POINTS.copy()
    mirrored[..., 0] = W_IN - 1 - mirrored[..., 0]  # RandomFlip's x' = w-1-x
    hm = CODEC.encode(POINTS)['heatmaps'][None]
    hm_m = CODEC.encode(mirrored)['heatmaps'][None]
    back = flip_back_heatmaps(hm_m, list(range(K)), shift)
    merged = 0.5 * (hm + back)
    got, _ = CODEC.decode(merged[0])
    err = got[0] - POINTS[0]
    if shift:
        assert np.abs(err[:, 0]).mean() > 1.
    else:
        np.testing.assert_allclose(err, 0., atol=0.05)
        lab = CODEC.encode(POINTS)['keypoint_labels']
        lab_m = CODEC.encode(mirrored)['keypoint_labels']
        np.testing.assert_allclose(
            flip_back_labels(lab_m, list(range(K)), False, W_IN),
            lab,
            atol=1e-6)


def test_crop_centre_on_the_heatmap():
    # MMPose's affine crop puts the box centre at input pixel w / 2
    off = crop_centre_offset((W_IN, W_IN), (W_HM, W_HM), 'centre')
    c = W_HM / 2 - off[0]
    assert c == pytest.approx(
        input_to_heatmap(np.float32(W_IN / 2), (W_IN, W_IN), (W_HM, W_HM)))
    assert crop_centre_offset((W_IN, W_IN), (W_HM, W_HM), 'corner') == (0., 0.)
    assert crop_centre_offset((W_IN, W_IN), (W_HM, W_HM),
                              'corner',
                              use_udp=True) == (0.5, 0.5)
