"""MPII test-set predictions: the official release converted, then
MpiiTestDataset, then MpiiPredictionDump's ``pred`` struct.

A small release in the official layout (an image with several people of
whom only some are single-person, an image without a single-person
rectangle, training images between the test images) goes through
``tools/convert_mpii_test.py``; predictions that equal the known joints come
back, read the way the MPII evaluation indexes ``pred``, equal to the
release's 1-based values. On a generated split with joints, the written file
scored with the evaluation's formula gives MpiiPCKhAccuracy's PCKh. The
end-to-end test runs MMPose's own ``tools/test.py``.
"""
import copy
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import mmpose
import numpy as np
import pytest
import torch
from scipy.io import loadmat

from sadinet_mmpose.datasets import MpiiTestDataset, SafeMpiiDataset
from sadinet_mmpose.datasets.synthetic import generate_split
from sadinet_mmpose.evaluation import (MPII_JOINT_ORDER, MpiiPCKhAccuracy,
                                       MpiiPredictionDump)
from mpii_release import (read_pred, release_from_split, score_pred,
                          write_release)

import sadinet_mmpose  # noqa: F401  isort: skip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEST_PY = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'test.py')
CONVERT = osp.join(REPO, 'tools', 'convert_mpii_test.py')


def _joints(seed):
    """Distinct 1-based joints (16, 2) with fractional values."""
    j = np.arange(16)
    return np.stack([10. * seed + j + 1.25, 500. + 7. * seed + j / 8.], -1)


def _person(seed, single=True, **kw):
    return dict(
        dict(
            objpos=(100. + seed, 200. + seed),
            scale=1. + seed / 10,
            head=(1., 2., 31., 42.),
            joints=_joints(seed),
            single=single), **kw)


#: annolist: train, test (3 people: rects 1 and 3 single-person), train,
#: test (one person, no single-person rect), test (one single person)
RELEASE_IMAGES = [
    dict(name='000000001.jpg', train=1, rects=[_person(0)]),
    dict(
        name='000000002.jpg',
        train=0,
        rects=[_person(1), _person(2, single=False),
               _person(3)]),
    dict(name='000000003.jpg', train=1, rects=[_person(4)]),
    dict(name='000000004.jpg', train=0, rects=[_person(5, single=False)]),
    dict(name='000000005.jpg', train=0, rects=[_person(6)]),
]


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """A release .mat in the official layout, converted by the tool."""
    d = tmp_path_factory.mktemp('mpii_release')
    mat = str(d / 'mpii_human_pose_v1_u12_1.mat')
    write_release(mat, RELEASE_IMAGES)
    proc = subprocess.run(
        [sys.executable, CONVERT, mat, '--out-dir',
         str(d / 'annotations')],
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '3 single-person records' in proc.stdout
    assert '3 test images, 5 rectangles' in proc.stdout
    return mat, str(d / 'annotations')


def _test_dataset(ann_dir, ann='mpii_test.json', img_dir='', **kw):
    return MpiiTestDataset(
        ann_file=osp.join(ann_dir, ann),
        data_root='',
        images_file=osp.join(ann_dir, 'mpii_test_images.json'),
        data_prefix=dict(img=img_dir),
        test_mode=True,
        **kw)


def test_converter_keeps_indices_and_every_test_image(release):
    _, ann_dir = release
    with open(osp.join(ann_dir, 'mpii_test.json')) as f:
        records = json.load(f)
    assert [(r['annolist_index'], r['rect_index']) for r in records] == \
        [(2, 1), (2, 3), (5, 1)]
    assert records[1]['center'] == [103., 203.]
    assert records[1]['scale'] == pytest.approx(1.3)
    assert records[1]['image'] == '000000002.jpg'
    ds = _test_dataset(ann_dir)
    images = ds.metainfo['mpii_test_images']
    assert [(im['annolist_index'], im['num_rects']) for im in images] == \
        [(2, 3), (4, 1), (5, 1)]
    info = ds.get_data_info(1)
    assert (info['annolist_index'], info['rect_index']) == (2, 3)
    # the box as MMPose's MpiiDataset converts it: 0-based centre
    np.testing.assert_allclose(
        info['bbox_center'][0], [102., 203. + 15. * 1.3 - 1.], rtol=1e-6)
    # the tool refuses to overwrite
    proc = subprocess.run(
        [sys.executable, CONVERT, release[0], '--out-dir', ann_dir],
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 1 and 'exists' in proc.stderr


def _fake_predictions(ds, joints_by_index):
    """Data samples of a model that returns the known joints (0-based)."""
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        key = (info['annolist_index'], info['rect_index'])
        samples.append(
            dict(
                id=info['id'],
                annolist_index=key[0],
                rect_index=key[1],
                pred_instances=dict(keypoints=joints_by_index[key][None] -
                                    1.)))
    return samples


def test_written_pred_round_trip(release, tmp_path):
    mat, ann_dir = release
    ds = _test_dataset(ann_dir)
    known = {
        (i + 1, r + 1): np.asarray(p['joints'])
        for i, im in enumerate(RELEASE_IMAGES)
        for r, p in enumerate(im['rects'])
    }
    out = str(tmp_path / 'sub' / 'pred_keypoints_mpii.mat')
    metric = MpiiPredictionDump(out_file=out)
    metric.dataset_meta = ds.metainfo
    samples = _fake_predictions(ds, known)
    metric.process([], samples[::-1])  # batches in any order
    assert metric.compute_metrics(metric.results) == dict(num_predictions=3.)
    # MATLAB classes: struct arrays all the way down, no cells
    raw = loadmat(out, struct_as_record=True)
    assert [k for k in raw if not k.startswith('__')] == ['pred']
    pred = raw['pred']
    assert pred.dtype.names == ('image', 'annorect') and pred.shape == (1, 3)
    rects = pred[0, 0]['annorect']
    assert rects.dtype.names == ('annopoints', ) and rects.shape == (1, 3)
    ap = rects[0, 0]['annopoints']
    assert ap.dtype.names == ('point', ) and ap.shape == (1, 1)
    point = ap[0, 0]['point']
    assert point.dtype.names == ('x', 'y', 'id') and point.shape == (1, 16)
    assert rects[0, 1]['annopoints'].size == 0  # not single-person
    assert pred[0, 1]['annorect'].shape == (1, 1)  # no single person
    assert pred[0, 2]['image'][0, 0]['name'][0] == '000000005.jpg'
    # indexed as evaluatePCKh.m indexes it: pred(t).annorect(r)
    back = read_pred(out)
    for t, i in enumerate((2, 4, 5)):
        for r, got in enumerate(back[t]):
            if (i, r + 1) not in {(2, 1), (2, 3), (5, 1)}:
                assert got is None
                continue
            want = known[(i, r + 1)]
            assert sorted(got) == list(range(16))
            for j in range(16):
                np.testing.assert_allclose(got[j], want[j], atol=1e-6)
    pck, counts = score_pred(mat, out, thr=0.01)
    assert (pck == 100).all() and counts.sum() == 48


@pytest.fixture(scope='module')
def split(tmp_path_factory):
    """A 6-image synthetic MPII split as the test images of a release."""
    d = tmp_path_factory.mktemp('synthetic_mpii')
    split_dir = str(d / 'test')
    generate_split(split_dir, num_images=6, image_size=(64, 64), seed=2)
    mat = str(d / 'release.mat')
    joints = release_from_split(
        split_dir,
        mat,
        extra_images=[dict(name='999.jpg', train=1, rects=[_person(0)])])
    subprocess.run(
        [sys.executable, CONVERT, mat, '--out-dir',
         str(d / 'annotations')],
        check=True,
        timeout=120)
    return split_dir, mat, str(d / 'annotations'), joints


def test_test_split_keeps_every_record_with_the_val_crops(split):
    split_dir, _, ann_dir, _ = split
    test = _test_dataset(ann_dir, img_dir=split_dir + '/images/')
    full = SafeMpiiDataset(
        ann_file=osp.join(split_dir, 'annotations.json'),
        data_root='',
        data_prefix=dict(img=split_dir + '/images/'),
        test_mode=True)
    assert len(test) == 6 and test.metainfo['num_records'] == 6
    for i in range(6):
        a, b = test.get_data_info(i), full.get_data_info(i)
        assert a['id'] == i and a['img_id'] == b['img_id']
        assert (a['annolist_index'], a['rect_index']) == (i + 2, 1)
        np.testing.assert_allclose(a['bbox'], b['bbox'], rtol=1e-6)
        np.testing.assert_allclose(
            a['bbox_center'], b['bbox_center'], rtol=1e-6)
        assert not a['keypoints_visible'].any() and not a['keypoints'].any()


def test_file_scored_officially_equals_mmpose_pckh(split, tmp_path):
    """Predictions off the truth by 0 to ~2 head sizes, written by the dump
    and scored as the MPII evaluation scores ``pred`` against the release's
    1-based joints, give MpiiPCKhAccuracy's per-joint PCKh on the 0-based
    data: rectangles, joint ids and the one +1 all line up."""
    split_dir, mat, ann_dir, _ = split
    hb = osp.join(split_dir, 'headboxes.mat')
    ds = SafeMpiiDataset(
        ann_file=osp.join(split_dir, 'annotations.json'),
        data_root='',
        headbox_file=hb,
        test_mode=True,
        data_prefix=dict(img=split_dir + '/images/'))
    test = _test_dataset(ann_dir, img_dir=split_dir + '/images/')
    rng = np.random.RandomState(0)
    samples = []
    for i in range(len(ds)):
        info, tinfo = ds.get_data_info(i), test.get_data_info(i)
        err = rng.randn(1, 16, 2) * info['head_size'].item() * \
            rng.uniform(0., 0.8, (1, 16, 1))
        samples.append(
            dict(
                id=info['id'],
                annolist_index=tinfo['annolist_index'],
                rect_index=tinfo['rect_index'],
                pred_instances=dict(keypoints=info['keypoints'] + err),
                gt_instances=dict(
                    keypoints=info['keypoints'],
                    keypoints_visible=info['keypoints_visible'],
                    head_size=info['head_size'])))
    pckh = MpiiPCKhAccuracy()
    pckh.dataset_meta = ds.metainfo
    pckh.process([], copy.deepcopy(samples))
    mm = pckh.compute_metrics(pckh.results)
    out = str(tmp_path / 'pred.mat')
    dump = MpiiPredictionDump(out_file=out)
    dump.dataset_meta = test.metainfo
    dump.process([], samples[::-1])
    dump.compute_metrics(dump.results)
    per_joint, _ = score_pred(mat, out)
    assert 0 < per_joint[[0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15
                          ]].mean() < 100, 'a discriminating case'
    groups = dict(
        Head=[9],
        Shoulder=[12, 13],
        Elbow=[11, 14],
        Wrist=[10, 15],
        Hip=[2, 3],
        Knee=[1, 4],
        Ankle=[0, 5])
    for name, idx in groups.items():
        np.testing.assert_allclose(
            per_joint[idx].mean(), mm[f'{name} PCK'], err_msg=name)
    names = [ds.metainfo['keypoint_id2name'][k] for k in range(16)]
    assert tuple(names) == MPII_JOINT_ORDER


# ----------------------------------------------------------------------
# bad input: one-line errors naming the config key
# ----------------------------------------------------------------------
def test_non_mpii_dataset_fails_when_the_evaluator_is_built(tmp_path):
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    from sadinet_mmpose.datasets import LSP_METAINFO_FILE
    metric = MpiiPredictionDump(out_file=str(tmp_path / 'p.mat'))
    with pytest.raises(ValueError, match='test_dataloader.dataset') as err:
        metric.dataset_meta = parse_pose_metainfo(
            dict(from_file=LSP_METAINFO_FILE))
    assert 'test_evaluator' in str(err.value)
    assert '\n' not in str(err.value)


def test_bad_out_file_samples_without_indices_and_no_images(release, tmp_path):
    with pytest.raises(ValueError, match='test_evaluator.out_file'):
        MpiiPredictionDump(out_file=str(tmp_path / 'p.json'))
    _, ann_dir = release
    metric = MpiiPredictionDump(out_file=str(tmp_path / 'p.mat'))
    metric.dataset_meta = _test_dataset(ann_dir).metainfo
    sample = dict(id=0, pred_instances=dict(keypoints=np.zeros((1, 16, 2))))
    with pytest.raises(KeyError, match="PackPoseInputs' meta_keys"):
        metric.process([], [sample])
    # a test split without the images list cannot be written as pred
    no_images = MpiiTestDataset(
        ann_file=osp.join(ann_dir, 'mpii_test.json'),
        data_root='',
        test_mode=True)
    with pytest.raises(ValueError, match='images_file') as err:
        metric.dataset_meta = no_images.metainfo
    assert '\n' not in str(err.value)


def test_images_file_of_another_format_is_refused(release, tmp_path):
    _, ann_dir = release
    bad = tmp_path / 'images.json'
    bad.write_text(json.dumps([dict(image='1.jpg')]))
    with pytest.raises(ValueError, match='field "format"') as err:
        MpiiTestDataset(
            ann_file=osp.join(ann_dir, 'mpii_test.json'),
            data_root='',
            images_file=str(bad),
            test_mode=True)
    assert str(bad) in str(err.value)


@pytest.mark.parametrize('drop, extra, match', [
    (1, None, r'2 predictions for 3 records'),
    (0, (2, 3), r'\(2, 3\) predicted twice'),
    (0, (4, 2), r'annolist_index 4 has no rectangle 2'),
    (0, (3, 1), r'annolist_index 3 is not a listed test image'),
])
def test_incomplete_repeated_or_unknown_records_fail(release, tmp_path, drop,
                                                     extra, match):
    _, ann_dir = release
    ds = _test_dataset(ann_dir)
    metric = MpiiPredictionDump(out_file=str(tmp_path / 'p.mat'))
    metric.dataset_meta = ds.metainfo
    known = {k: _joints(0) for k in [(2, 1), (2, 3), (5, 1), (4, 2), (3, 1)]}
    samples = _fake_predictions(ds, known)[drop:]
    if extra:
        samples.append(
            dict(
                annolist_index=extra[0],
                rect_index=extra[1],
                pred_instances=dict(keypoints=_joints(0)[None])))
    metric.process([], samples)
    with pytest.raises(ValueError, match=match):
        metric.compute_metrics(metric.results)
    assert not osp.exists(tmp_path / 'p.mat')


def test_release_with_a_missing_field_names_it(tmp_path):
    from sadinet_mmpose.datasets.mpii_convert import convert_mpii_test
    mat = str(tmp_path / 'r.mat')
    write_release(mat, [
        dict(
            name='1.jpg',
            train=0,
            rects=[dict(single=True, head=(0, 0, 1, 1))])
    ])
    with pytest.raises(ValueError, match=r'annorect\(1\).*objpos'):
        convert_mpii_test(mat)
    from scipy.io import savemat
    savemat(mat, dict(other=np.zeros(2)))
    with pytest.raises(ValueError, match='no variable RELEASE'):
        convert_mpii_test(mat)


@pytest.mark.parametrize('content', [b'', b'this is text, not a .mat\n'])
def test_release_that_is_not_a_mat_file_is_named(tmp_path, content):
    path = tmp_path / 'mpii_human_pose_v1_u12_1.mat'
    path.write_bytes(content)
    tool = osp.join(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
        'convert_mpii_test.py')
    proc = subprocess.run([sys.executable, tool,
                           str(path)],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, \
        proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert str(path) in err and 'not a MATLAB .mat file' in err, err


@pytest.mark.parametrize('record, match', [
    (dict(center=[30., 30.], scale=0.3), r"lacks the key\(s\) \['image'\]"),
    (dict(image='a.jpg', center=[30., 30.], scale=0.3), 'must be a number'),
    (dict(image='7.jpg', center=[30., 30.], scale=0.), 'zero-size'),
])
def test_test_split_with_a_bad_record_fails(tmp_path, record, match):
    ann = tmp_path / 'test.json'
    good = dict(image='1.jpg', center=[30., 30.], scale=0.3)
    ann.write_text(json.dumps([good, record]))
    with pytest.raises(ValueError, match=match) as err:
        MpiiTestDataset(ann_file=str(ann), data_root='', test_mode=True)
    assert 'record 1' in str(err.value)


# ----------------------------------------------------------------------
# end to end: MMPose's tools/test.py with a config change only
# ----------------------------------------------------------------------
TEST_SPLIT_OVERRIDE = '''
test_pipeline = val_pipeline[:-1] + [dict(
    type='PackPoseInputs',
    meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
               'input_size', 'input_center', 'input_scale', 'flip',
               'flip_direction', 'flip_indices', 'dataset_name',
               'annolist_index', 'rect_index'))]
test_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type='MpiiTestDataset', data_root='', ann_file={ann!r},
                 images_file={images!r}, data_prefix=dict(img={img!r}),
                 test_mode=True, pipeline=test_pipeline))
test_evaluator = dict(type='MpiiPredictionDump', out_file={out!r})
'''


@pytest.mark.slow
def test_tools_test_writes_the_predictions_file(split, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    from tiny_configs import sadinet_tiny_config
    split_dir, mat, ann_dir, _ = split
    out = str(tmp_path / 'pred_keypoints_mpii.mat')
    text = sadinet_tiny_config(split_dir) + TEST_SPLIT_OVERRIDE.format(
        ann=osp.join(ann_dir, 'mpii_test.json'),
        images=osp.join(ann_dir, 'mpii_test_images.json'),
        img=split_dir + '/images/',
        out=out)
    cfg_file = tmp_path / 'test_split.py'
    cfg_file.write_text(text)
    # a checkpoint of the tiny model as built (the values only need to be
    # the same in both runs)
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_file)).model)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    dump = str(tmp_path / 'outputs.pkl')
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([REPO,
                                    os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([
        sys.executable, TEST_PY,
        str(cfg_file), ckpt, '--work-dir',
        str(tmp_path / 'work'), '--dump', dump
    ],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'MPII/num_predictions: 6' in proc.stdout + proc.stderr
    back = read_pred(out)
    assert len(back) == 6 and all(len(rects) == 1 for rects in back)
    # MMPose's own --dump of the same outputs (DumpResults), by record id
    with open(dump, 'rb') as f:
        outputs = pickle.load(f)
    by_id = {o['id']: o['pred_instances']['keypoints'][0] for o in outputs}
    assert sorted(by_id) == list(range(6))
    for i in range(6):
        got = np.array([back[i][0][j] for j in range(16)])
        np.testing.assert_allclose(got, by_id[i] + 1., rtol=1e-6)


def test_shipped_test_split_config_changes_only_dataset_and_evaluator():
    from mmengine.config import Config
    path = osp.join(
        REPO, 'configs', 'sadinet', 'td-hm_sadinet-rfm-sfm-dlm_'
        '2xb32-210e_mpii-256x256_test-preds.py')
    cfg = Config.fromfile(path)
    base = Config.fromfile(path.replace('_test-preds', ''))
    ds = cfg.test_dataloader.dataset
    assert ds.type == 'MpiiTestDataset' and ds.headbox_file is None
    assert ds.ann_file == 'annotations/mpii_test.json'
    assert ds.images_file == 'annotations/mpii_test_images.json'
    # the test protocol of the base config; the samples also carry the
    # record's annolist and rectangle indices
    base_pipeline = base.test_dataloader.dataset.pipeline
    assert ds.pipeline[:-1] == base_pipeline[:-1]
    assert ds.pipeline[-1]['meta_keys'] == \
        base_pipeline[-1]['meta_keys'] + ('annolist_index', 'rect_index')
    assert cfg.test_evaluator == dict(
        type='MpiiPredictionDump',
        out_file='work_dirs/mpii_test/pred_keypoints_mpii.mat')
    assert cfg.model == base.model and cfg.val_dataloader == \
        base.val_dataloader and cfg.val_evaluator == base.val_evaluator
