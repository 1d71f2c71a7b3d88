"""SafeLoadImage (bad images) and MultiScaleTopdownAffine (extra crops)."""
import cv2
import numpy as np
import pytest
from mmpose.datasets.transforms import TopdownAffine

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.datasets.transforms import (BadImageError, BadImageWarning,
                                                MultiScaleTopdownAffine,
                                                SafeLoadImage)


def test_safe_load_image(tmp_path):
    good = str(tmp_path / 'good.jpg')
    cv2.imwrite(good, np.full((8, 6, 3), 100, np.uint8))
    corrupt = str(tmp_path / 'corrupt.jpg')
    with open(corrupt, 'wb') as f:
        f.write(b'not a jpeg at all')
    out = SafeLoadImage()(dict(img_path=good))
    assert out['img'].shape == (8, 6, 3)
    for path, reason in ((str(tmp_path / 'missing.jpg'), 'not found'),
                         (corrupt, 'cannot read or decode')):
        with pytest.raises(BadImageError, match=reason) as e:
            SafeLoadImage()(dict(img_path=path, id=7, img_id=3))
        assert path in str(e.value) and 'id=7' in str(e.value), reason
    t = SafeLoadImage(skip_bad_images=True)
    with pytest.warns(BadImageWarning, match='2 bad image'):
        assert t(dict(img_path=corrupt)) is None
        assert t(dict(img_path=corrupt)) is None
    assert t.num_skipped == 2


def _results():
    img = np.zeros((120, 100, 3), np.uint8)
    cv2.circle(img, (62, 70), 3, (255, 255, 255), -1)  # a dot at (62, 70)
    return dict(
        img=img,
        bbox_center=np.array([[50., 60.]]),
        bbox_scale=np.array([[40., 60.]]))


def _peak(img):
    g = cv2.GaussianBlur(img[..., 0].astype(float), (5, 5), 0)
    y, x = np.unravel_index(np.argmax(g), g.shape)
    return np.array([x, y], float)


def test_multiscale_affine_crops():
    t = MultiScaleTopdownAffine(input_size=(64, 64), scales=(0.75, 1.0, 2.0))
    out = t(_results())
    ref = TopdownAffine(input_size=(64, 64))(_results())
    np.testing.assert_array_equal(
        out['img'], ref['img'], err_msg="main crop is TopdownAffine's")
    assert out['ms_scales'] == (0.75, 2.0) and len(out['ms_inputs']) == 2
    # box 60x60 after the aspect fix; the dot is at (12, 10) from the centre
    for s, crop in zip(out['ms_scales'], out['ms_inputs']):
        expect = np.array([12., 10.]) / (60. * s) * 64 + 32
        assert np.abs(_peak(crop) - expect).max() <= 1.0, f'scale {s}'
    with pytest.raises(ValueError, match='test_dataloader.dataset.pipeline'):
        MultiScaleTopdownAffine(input_size=(32, 32), scales=(0., 1.))
