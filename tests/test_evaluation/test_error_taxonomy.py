"""KeypointErrorTaxonomy on constructed predictions of known class."""
import json

import numpy as np
import pytest

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.datasets.synthetic_hard import MPII_MIRROR
from sadinet_mmpose.evaluation import (ERROR_CLASSES, KeypointErrorTaxonomy,
                                       classify_errors)

HEAD = 10.


def _two_people(rng):
    """Two persons of one image and a third alone, 16 joints each."""
    gt = rng.uniform(0, 200, (3, 16, 2))
    # keep joints of a person apart, so that only the intended joint is near
    for n in range(3):
        gt[n] = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(
            16, 2) * 40. + n * 500.
    return gt


def _sample(pred, gt, vis, head, image, idx):
    return dict(
        pred_instances=dict(keypoints=pred[None]),
        gt_instances=dict(
            keypoints=gt[None],
            keypoints_visible=vis[None],
            head_size=np.array([[head]])),
        img_path=image,
        id=idx)


def test_each_class_is_classified_exactly():
    rng = np.random.default_rng(0)
    gt = _two_people(rng)
    # person 1 stands next to person 0 in the same image
    gt[1] = gt[0] + np.array([7 * HEAD, 0.])
    vis = np.ones((3, 16), bool)
    pred = gt.copy()
    # person 0: good (within 0.1 head), jitter, inversion, swap, miss
    ang = rng.uniform(0, 2 * np.pi, 16)
    unit = np.stack([np.cos(ang), np.sin(ang)], -1)
    pred[0] = gt[0] + unit * rng.uniform(0, 0.1, (16, 1)) * HEAD
    pred[0, 1] = gt[0, 1] + np.array([0.4 * HEAD, 0.])  # jitter
    pred[0, 2] = gt[0, MPII_MIRROR[2]] + 0.05 * HEAD  # inversion
    pred[0, 13] = gt[1, 13] + np.array([0., 0.2 * HEAD])  # swap
    pred[0, 7] = gt[0, 7] + np.array([0., 100 * HEAD])  # miss
    codes = classify_errors(pred, gt, vis, np.full(3, HEAD), ['a', 'a', 'b'],
                            MPII_MIRROR)
    want = np.zeros(16, int)
    want[[1, 2, 13, 7]] = [1, 2, 3, 4]
    np.testing.assert_array_equal(codes[0], want)
    # the person alone in image 'b': a far point is a miss, and so is a
    # point on the same joint of a person of another image
    pred[2, 13] = gt[2, 13] + np.array([3 * HEAD, 0.])
    pred[2, 12] = gt[0, 12]
    codes = classify_errors(pred, gt, vis, np.full(3, HEAD), ['a', 'a', 'b'],
                            MPII_MIRROR)
    assert codes[2, 13] == 4 and codes[2, 12] == 4
    assert (codes[2, np.arange(16) < 12] == 0).all()
    # an unlabelled joint has no class
    vis[1, 5] = False
    assert classify_errors(pred, gt, vis, np.full(3, HEAD), ['a', 'a', 'b'],
                           MPII_MIRROR)[1, 5] == -1


def test_a_mirrored_pair_is_two_inversions():
    gt = _two_people(np.random.default_rng(1))[:1]
    pred = gt.copy()
    pred[0, [10, 15]] = gt[0, [15, 10]]  # wrists exchanged
    codes = classify_errors(pred, gt, np.ones((1, 16), bool), [HEAD], ['a'],
                            MPII_MIRROR)
    assert codes[0, 10] == codes[0, 15] == 2
    # a joint without a mirror (the neck) is never an inversion
    pred[0, 8] = gt[0, 9]
    assert classify_errors(pred, gt, np.ones((1, 16), bool), [HEAD], ['a'],
                           MPII_MIRROR)[0, 8] == 4


def test_metric_reports_shares_groups_and_tags(tmp_path):
    gt = _two_people(np.random.default_rng(2))
    gt[1] = gt[0] + np.array([7 * HEAD, 0.])
    pred = gt.copy()
    pred[0, [10, 15]] = gt[0, [15, 10]]  # two wrist inversions
    pred[1, 0] = gt[0, 0]  # a swap (ankle)
    vis = np.ones((3, 16), bool)
    tags = {
        k: np.zeros((3, 16), int).tolist()
        for k in ('occluded', 'overlapped')
    }
    tags['occluded'][0][10] = 1  # the inverted wrist
    tags['overlapped'][1][0] = 1  # the swapped ankle
    tags['overlapped'][1][1] = 1  # a good knee
    tag_file = tmp_path / 'tags.json'
    tag_file.write_text(json.dumps(dict(names=list(tags), tags=tags)))
    out_file = tmp_path / 'codes.json'
    m = KeypointErrorTaxonomy(tag_file=str(tag_file), out_file=str(out_file))
    m.dataset_meta = dict(flip_indices=list(MPII_MIRROR))
    m.process([], [
        _sample(pred[i], gt[i], vis[i], HEAD, 'ab'[i // 2], i)
        for i in (2, 0, 1)
    ])
    res = m.compute_metrics(m.results)
    assert res['joints'] == 48
    assert res['inversion'] == pytest.approx(100 * 2 / 48)
    assert res['swap'] == pytest.approx(100 * 1 / 48)
    assert res['good'] == pytest.approx(100 * 45 / 48)
    assert res['Wrist inversion'] == pytest.approx(100 * 2 / 6)
    assert res['Ankle swap'] == pytest.approx(100 * 1 / 6)
    assert res['PCKh@0.5 occluded'] == 0. and res['occluded joints'] == 1
    assert res['PCKh@0.5 overlapped'] == 50. and res['overlapped swap'] == 50.
    assert res['untagged joints'] == 45
    assert res['PCKh@0.5 untagged'] == pytest.approx(100 * 44 / 45)
    codes = json.loads(out_file.read_text())
    assert codes['classes'] == list(ERROR_CLASSES)
    assert codes['codes'][0][10] == 2 and codes['codes'][1][0] == 3


def test_bbox_normaliser():
    gt = _two_people(np.random.default_rng(3))[:1]
    pred = gt + np.array([3., 0.])
    m = KeypointErrorTaxonomy(norm_item='bbox', bbox_ratio=0.1)
    m.dataset_meta = dict(flip_indices=list(MPII_MIRROR))
    s = _sample(pred[0], gt[0], np.ones(16), HEAD, 'a', 0)
    del s['gt_instances']['head_size']
    s['gt_instances']['bboxes'] = np.array([[0., 0., 100., 40.]])
    m.process([], [s])
    # normaliser 0.1 * 100 = 10 px: 3 px is 0.3, jitter
    assert m.compute_metrics(m.results)['jitter'] == 100.


def test_missing_tag_file_and_head_size_are_named(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'tags.json')
    with pytest.raises(FileNotFoundError, match='tag_file.*nowhere'):
        KeypointErrorTaxonomy(tag_file=missing)
    bad = tmp_path / 'tags.json'
    bad.write_text(json.dumps(dict(names=[])))
    with pytest.raises(ValueError, match="tags.json: expected the key 'tags'"):
        KeypointErrorTaxonomy(tag_file=str(bad))
    gt = _two_people(np.random.default_rng(4))[0]
    s = _sample(gt, gt, np.ones(16), HEAD, 'img.jpg', 0)
    del s['gt_instances']['head_size']
    with pytest.raises(KeyError, match="head_size.*img.jpg"):
        KeypointErrorTaxonomy().process([], [s])
