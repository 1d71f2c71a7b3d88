"""One coordinate convention from label to metric: MPII's 1-based joints
load as 0-based pixels, the synthetic figures are drawn where their labels
say, and the training pipeline with its flip keeps a joint on its pixel."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmpose.registry import DATASETS, TRANSFORMS

import sadinet_mmpose  # noqa: F401  isort: skip


def _one_record(tmp_path, mpii_sample_dir, joints=True):
    with open(osp.join(mpii_sample_dir, 'annotations',
                       'mpii_sample.json')) as f:
        rec = json.load(f)[0]
    rec['joints'][0] = [11., 21.]
    rec['joints_vis'][0] = 1
    if not joints:
        rec = {k: rec[k] for k in ('image', 'center', 'scale')}
    path = tmp_path / 'one.json'
    path.write_text(json.dumps([rec]))
    return str(path)


@pytest.mark.parametrize('dataset', ['SafeMpiiDataset', 'MpiiTestDataset'])
def test_mpii_joint_loads_zero_based(dataset, tmp_path, mpii_sample_dir):
    ds = DATASETS.build(
        dict(
            type=dataset,
            ann_file=_one_record(tmp_path, mpii_sample_dir),
            data_prefix=dict(img=osp.join(mpii_sample_dir, 'images') + '/'),
            test_mode=True))
    np.testing.assert_allclose(
        ds.get_data_info(0)['keypoints'][0, 0], [10., 20.])


def test_synthetic_label_is_the_drawn_joint_and_loads_zero_based(tmp_path):
    ds = DATASETS.build(
        dict(
            type='SyntheticMpiiDataset',
            data_root=str(tmp_path),
            split='val',
            num_images=4,
            test_mode=True))
    with open(tmp_path / 'val' / 'annotations.json') as f:
        written = json.load(f)
    for i in range(4):
        info = ds.get_data_info(i)
        # the file is MPII's 1-based frame; the dataset gives 0-based pixels
        np.testing.assert_allclose(
            info['keypoints'][0] + 1.,
            np.asarray(written[i]['joints']),
            atol=1e-3)


def _disc_centroid(img, background, centre, radius):
    """Intensity-weighted centre of what was drawn around ``centre``."""
    diff = np.abs(img.astype(np.float64) - background).sum(-1)
    ys, xs = np.mgrid[:img.shape[0], :img.shape[1]]
    near = (xs - centre[0])**2 + (ys - centre[1])**2 <= (radius + 1.5)**2
    w = diff * near
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


@pytest.mark.parametrize('centre', [(20.3, 30.7), (41.75, 12.25)])
def test_drawn_disc_is_centred_on_its_sub_pixel_label(centre):
    from sadinet_mmpose.datasets.synthetic import _disc
    img = np.zeros((64, 64, 3), np.uint8)
    _disc(img, np.array(centre), 4, (255, 255, 255))
    got = _disc_centroid(img, 0., centre, 4)
    np.testing.assert_allclose(got, centre, atol=0.05)


def _pipeline(codec, flip_prob):
    return [
        TRANSFORMS.build(t) for t in (
            dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', direction='horizontal', prob=flip_prob),
            dict(
                type='RandomBBoxTransform',
                shift_prob=0.,
                scale_prob=0.,
                rotate_prob=0.),
            dict(type='TopdownAffine', input_size=codec['input_size']),
            dict(type='GenerateTarget', encoder=codec),
        )
    ]


@pytest.mark.parametrize('flip_prob', [0., 1.])
def test_pipeline_round_trip_lands_on_the_label(flip_prob):
    """Joint -> crop (with or without RandomFlip) -> codec target -> decode
    -> inverse affine: back on the label within 0.05 px."""
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures.bbox import get_warp_matrix
    codec_cfg = dict(
        type='FlowHeatmapCodec',
        input_size=(128, 128),
        heatmap_size=(32, 32),
        sigma=1.5)
    codec = KEYPOINT_CODECS.build(codec_cfg)
    rng = np.random.RandomState(0)
    joints = rng.uniform(40, 150, (1, 16, 2)).astype(np.float32)
    results = dict(
        img=np.zeros((200, 200, 3), np.uint8),
        img_shape=(200, 200),
        ori_shape=(200, 200),
        bbox=np.array([[20., 20., 180., 180.]], np.float32),
        keypoints=joints.copy(),
        keypoints_visible=np.ones((1, 16), np.float32),
        flip_indices=list(range(16)))
    for t in _pipeline(codec_cfg, flip_prob):
        results = t(results)
    heatmaps = results['heatmaps']
    crop_kpts, _ = codec.decode(heatmaps)
    # labels (mu targets) decode to the same crop pixels
    from sadinet_mmpose.codecs.decoding import labels_to_input
    lab_kpts, _ = labels_to_input(results['keypoint_labels'],
                                  codec_cfg['input_size'])
    np.testing.assert_allclose(
        lab_kpts, results['transformed_keypoints'], atol=1e-4)
    # back to the image: the inverse of TopdownAffine's matrix
    warp = get_warp_matrix(
        results['input_center'],
        results['input_scale'],
        0.,
        output_size=(128, 128))
    inv = cv2.invertAffineTransform(warp)
    img_kpts = crop_kpts[0] @ inv[:, :2].T + inv[:, 2]
    want = joints[0].copy()
    if flip_prob:
        want[:, 0] = 200 - 1 - want[:, 0]  # RandomFlip: x' = w - 1 - x
    np.testing.assert_allclose(img_kpts, want, atol=0.05)
