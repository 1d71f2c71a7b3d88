"""MPII test-set predictions: MpiiTestDataset + MpiiPredictionDump.

The file is read back with scipy and checked for its variable name, shape,
row order (records), column order (MPII joint ids) and values (1-based);
on a split with joints the file scored by the MPII evaluation's formula
equals MMPose's MpiiPCKAccuracy. The end-to-end test runs MMPose's own
``tools/test.py`` on a test-like synthetic split.
"""
import copy
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.io import loadmat

import sadinet_mmpose  # noqa: F401  isort: skip
import mmpose

from sadinet_mmpose.datasets import MpiiTestDataset, SafeMpiiDataset
from sadinet_mmpose.datasets.synthetic import (generate_split,
                                               write_mpii_test_annotations)
from sadinet_mmpose.evaluation import (MPII_JOINT_ORDER, MpiiPCKhAccuracy,
                                       MpiiPredictionDump)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEST_PY = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'test.py')


@pytest.fixture(scope='module')
def split(tmp_path_factory):
    """A 6-image synthetic MPII split with its test-like annotations."""
    d = str(tmp_path_factory.mktemp('synthetic_mpii') / 'test')
    generate_split(d, num_images=6, image_size=(64, 64), seed=2)
    return d, write_mpii_test_annotations(d)


def _test_dataset(split_dir, ann_file, **kw):
    return MpiiTestDataset(ann_file=ann_file, data_root='',
                           data_prefix=dict(img=split_dir + '/images/'),
                           test_mode=True, **kw)


def test_test_split_keeps_every_record_with_the_val_crops(split):
    split_dir, ann = split
    test = _test_dataset(split_dir, ann)
    full = SafeMpiiDataset(ann_file=osp.join(split_dir, 'annotations.json'),
                           data_root='',
                           data_prefix=dict(img=split_dir + '/images/'),
                           test_mode=True)
    assert len(test) == 6 and test.metainfo['num_records'] == 6
    for i in range(6):
        a, b = test.get_data_info(i), full.get_data_info(i)
        assert a['id'] == i and a['img_id'] == b['img_id']
        np.testing.assert_array_equal(a['bbox'], b['bbox'])
        np.testing.assert_array_equal(a['bbox_center'], b['bbox_center'])
        assert not a['keypoints_visible'].any() and not a['keypoints'].any()


def _samples(keypoints, ids):
    return [dict(id=int(i), img_id=int(i),
                 pred_instances=dict(keypoints=keypoints[i][None]))
            for i in ids]


def test_file_layout_order_and_values(split, tmp_path):
    split_dir, ann = split
    ds = _test_dataset(split_dir, ann)
    n = len(ds)
    j = np.arange(16)
    known = np.stack([np.stack([100. * i + j, 1000. + 10. * i + j / 4.], -1)
                      for i in range(n)])  # (N, 16, 2), distinct values
    out = str(tmp_path / 'sub' / 'preds.mat')
    metric = MpiiPredictionDump(out_file=out)
    metric.dataset_meta = ds.metainfo
    metric.process([], _samples(known, [3, 0, 5]))  # batches in any order
    metric.process([], _samples(known, [1, 4, 2]))
    assert metric.compute_metrics(metric.results) == dict(num_predictions=6.)
    mat = loadmat(out)
    assert [k for k in mat if not k.startswith('__')] == ['preds']
    preds = mat['preds']
    assert preds.shape == (n, 16, 2) and preds.dtype == np.float64
    np.testing.assert_array_equal(preds, known + 1.)
    # column j is MPII joint id j: the dataset's own order is MPII's
    names = [ds.metainfo['keypoint_id2name'][k] for k in range(16)]
    assert tuple(names) == MPII_JOINT_ORDER
    assert MPII_JOINT_ORDER[9] == 'head_top' and MPII_JOINT_ORDER[7] == \
        'thorax'


def _official_pckh(preds, headbox_file, thr=0.5):
    """PCKh per joint as the MPII evaluation computes it (evaluatePCKh.m;
    HRNet's Python port): 1-based predictions against ``pos_gt_src``,
    normalised by 0.6 x the head-box diagonal, visible joints only."""
    gt = loadmat(headbox_file)
    pos_gt = gt['pos_gt_src']  # (16, 2, N)
    visible = 1 - gt['jnt_missing']  # (16, N)
    boxes = gt['headboxes_src']  # (2, 2, N)
    head = np.linalg.norm(boxes[1] - boxes[0], axis=0) * 0.6
    err = np.linalg.norm(np.transpose(preds, [1, 2, 0]) - pos_gt, axis=1)
    hit = (err / head <= thr) * visible
    return 100. * hit.sum(1) / visible.sum(1)


def test_val_file_scored_officially_equals_mmpose_pckh(split, tmp_path):
    """With joints (the split's own annotations and head boxes) the dumped
    file, scored as the MPII evaluation does against the 1-based truth,
    gives MpiiPCKhAccuracy's per-joint PCKh on the 0-based data: rows,
    columns and the one +1 all line up."""
    split_dir, _ = split
    hb = osp.join(split_dir, 'headboxes.mat')
    ds = SafeMpiiDataset(ann_file=osp.join(split_dir, 'annotations.json'),
                         data_root='', headbox_file=hb, test_mode=True,
                         data_prefix=dict(img=split_dir + '/images/'))
    rng = np.random.RandomState(0)
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        # errors from 0 to ~2 head sizes: some joints in, some out
        err = rng.randn(1, 16, 2) * info['head_size'].item() * \
            rng.uniform(0., 0.8, (1, 16, 1))
        samples.append(dict(
            id=info['id'],
            pred_instances=dict(keypoints=info['keypoints'] + err),
            gt_instances=dict(keypoints=info['keypoints'],
                              keypoints_visible=info['keypoints_visible'],
                              head_size=info['head_size'])))
    pckh = MpiiPCKhAccuracy()
    pckh.dataset_meta = ds.metainfo
    pckh.process([], copy.deepcopy(samples))
    mm = pckh.compute_metrics(pckh.results)
    out = str(tmp_path / 'val.mat')
    dump = MpiiPredictionDump(out_file=out)
    dump.dataset_meta = ds.metainfo
    dump.process([], samples[::-1])
    dump.compute_metrics(dump.results)
    per_joint = _official_pckh(loadmat(out)['preds'], hb)
    assert 0 < per_joint[[0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14,
                          15]].mean() < 100, 'a discriminating case'
    groups = dict(Head=[9], Shoulder=[12, 13], Elbow=[11, 14],
                  Wrist=[10, 15], Hip=[2, 3], Knee=[1, 4], Ankle=[0, 5])
    for name, idx in groups.items():
        np.testing.assert_allclose(per_joint[idx].mean(), mm[f'{name} PCK'],
                                   err_msg=name)


# ----------------------------------------------------------------------
# bad input: one-line errors naming the config key
# ----------------------------------------------------------------------
def test_non_mpii_dataset_fails_when_the_evaluator_is_built(tmp_path):
    from sadinet_mmpose.datasets import LSP_METAINFO_FILE
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    metric = MpiiPredictionDump(out_file=str(tmp_path / 'p.mat'))
    with pytest.raises(ValueError, match='test_dataloader.dataset') as err:
        metric.dataset_meta = parse_pose_metainfo(
            dict(from_file=LSP_METAINFO_FILE))
    assert 'test_evaluator' in str(err.value)
    assert '\n' not in str(err.value)


def test_bad_out_file_and_samples_without_ids(split, tmp_path):
    with pytest.raises(ValueError, match='test_evaluator.out_file'):
        MpiiPredictionDump(out_file=str(tmp_path / 'p.json'))
    split_dir, ann = split
    metric = MpiiPredictionDump(out_file=str(tmp_path / 'p.mat'))
    metric.dataset_meta = _test_dataset(split_dir, ann).metainfo
    sample = dict(pred_instances=dict(keypoints=np.zeros((1, 16, 2))))
    with pytest.raises(KeyError, match="PackPoseInputs' meta_keys"):
        metric.process([], [sample])


@pytest.mark.parametrize('ids, match', [
    ([0, 1, 2, 3, 4], r'missing ids \[5\]'),
    ([0, 1, 2, 3, 4, 5, 5], r'repeated ids \[5\]'),
])
def test_incomplete_or_repeated_records_fail(split, tmp_path, ids, match):
    split_dir, ann = split
    metric = MpiiPredictionDump(out_file=str(tmp_path / 'p.mat'))
    metric.dataset_meta = _test_dataset(split_dir, ann).metainfo
    metric.process([], _samples(np.zeros((6, 16, 2)), ids))
    with pytest.raises(ValueError, match=match):
        metric.compute_metrics(metric.results)
    assert not osp.exists(tmp_path / 'p.mat')


@pytest.mark.parametrize('record, match', [
    (dict(center=[30., 30.], scale=0.3), r"lacks the key\(s\) \['image'\]"),
    (dict(image='a.jpg', center=[30., 30.], scale=0.3), 'must be a number'),
    (dict(image='7.jpg', center=[30., 30.], scale=0.), 'zero-size'),
])
def test_test_split_with_a_bad_record_fails(tmp_path, record, match):
    import json
    ann = tmp_path / 'test.json'
    good = dict(image='1.jpg', center=[30., 30.], scale=0.3)
    ann.write_text(json.dumps([good, record]))
    with pytest.raises(ValueError, match=match) as err:
        _test_dataset(str(tmp_path), str(ann))
    assert 'record 1' in str(err.value)


# ----------------------------------------------------------------------
# end to end: MMPose's tools/test.py with a config change only
# ----------------------------------------------------------------------
TEST_SPLIT_OVERRIDE = '''
test_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type='MpiiTestDataset', data_root='', ann_file={ann!r},
                 data_prefix=dict(img={img!r}), test_mode=True,
                 pipeline=val_pipeline))
test_evaluator = dict(type='MpiiPredictionDump', out_file={out!r})
'''


@pytest.mark.slow
def test_tools_test_writes_the_predictions_file(split, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    from tiny_configs import sadinet_tiny_config
    split_dir, ann = split
    out = str(tmp_path / 'preds.mat')
    text = sadinet_tiny_config(split_dir) + TEST_SPLIT_OVERRIDE.format(
        ann=ann, img=split_dir + '/images/', out=out)
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
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [REPO, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(
        [sys.executable, TEST_PY, str(cfg_file), ckpt, '--work-dir',
         str(tmp_path / 'work'), '--dump', dump],
        cwd=str(tmp_path), capture_output=True, text=True, env=env,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'MPII/num_predictions: 6' in proc.stdout + proc.stderr
    preds = loadmat(out)['preds']
    assert preds.shape == (6, 16, 2)
    # MMPose's own --dump of the same outputs (DumpResults), by record id
    with open(dump, 'rb') as f:
        outputs = pickle.load(f)
    by_id = {o['id']: o['pred_instances']['keypoints'][0] for o in outputs}
    assert sorted(by_id) == list(range(6))
    for i in range(6):
        np.testing.assert_allclose(preds[i], by_id[i] + 1., rtol=1e-6)


def test_shipped_test_split_config_changes_only_dataset_and_evaluator():
    from mmengine.config import Config
    path = osp.join(REPO, 'configs', 'sadinet', 'td-hm_sadinet-rfm-sfm-dlm_'
                    '2xb32-210e_mpii-256x256_test-preds.py')
    cfg = Config.fromfile(path)
    base = Config.fromfile(path.replace('_test-preds', ''))
    ds = cfg.test_dataloader.dataset
    assert ds.type == 'MpiiTestDataset' and ds.headbox_file is None
    assert ds.ann_file == 'annotations/mpii_test.json'
    assert ds.pipeline == base.test_dataloader.dataset.pipeline
    assert cfg.test_evaluator == dict(type='MpiiPredictionDump',
                                      out_file='work_dirs/mpii_test/preds.mat')
    assert cfg.model == base.model and cfg.val_dataloader == \
        base.val_dataloader and cfg.val_evaluator == base.val_evaluator
