"""Bad MPII-format input: each case errors with the file/record or is
skipped with a counted warning (docs/data.md)."""
import json
import os.path as osp

import numpy as np
import pytest
from scipy.io import savemat

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.datasets import BadAnnotationWarning, SafeMpiiDataset


def _write(tmp_path, anns, name='ann.json'):
    p = str(tmp_path / name)
    with open(p, 'w') as f:
        json.dump(anns, f)
    return p


@pytest.fixture
def sample_anns(mpii_sample_dir):
    with open(osp.join(mpii_sample_dir, 'annotations',
                       'mpii_sample.json')) as f:
        return json.load(f)


def _ds(mpii_sample_dir, ann, **kw):
    return SafeMpiiDataset(
        ann_file=ann, data_prefix=dict(img=f'{mpii_sample_dir}/images/'), **kw)


def test_clean_sample_loads(mpii_sample_dir, mpii_sample_headboxes):
    ann, hb, sizes = mpii_sample_headboxes
    ds = _ds(mpii_sample_dir, ann, headbox_file=hb, test_mode=True)
    assert len(ds) == 5 and ds.skipped_records == {}
    assert ds.get_data_info(4)['head_size'].item() == pytest.approx(
        sizes[4], rel=1e-5)


def test_record_level_problems_are_skipped(mpii_sample_dir, sample_anns,
                                           tmp_path):
    sample_anns[1]['joints'][4] = [float('nan'), 3.0]
    sample_anns[2]['scale'] = 0.0
    sample_anns[3]['joints_vis'] = [0] * 16
    with pytest.warns(BadAnnotationWarning, match='skipped 3') as rec:
        ds = _ds(mpii_sample_dir, _write(tmp_path, sample_anns))
    msg = [
        str(w.message) for w in rec
        if issubclass(w.category, BadAnnotationWarning)
    ][0]
    for part in ('NaN/inf', 'zero-size', 'no labelled joint', 'ann.json'):
        assert part in msg, f'warning names {part!r}: {msg}'
    assert len(ds) == 2
    # the count reaches the metric's result line, not only the warning
    from sadinet_mmpose.evaluation import MpiiPCKhAccuracy
    assert ds.metainfo['skipped_records'] == 3
    metric = MpiiPCKhAccuracy(norm_item='head')
    metric.dataset_meta = ds.metainfo
    info = ds.get_data_info(0)
    metric.process([], [
        dict(
            pred_instances=dict(keypoints=info['keypoints']),
            gt_instances=dict(
                keypoints=info['keypoints'],
                keypoints_visible=info['keypoints_visible'],
                head_size=np.array([[30.]])))
    ])
    assert metric.compute_metrics(metric.results)['skipped records'] == 3
    # NaN in an *unlabelled* joint: set to 0, record kept
    sample_anns = [a for a in sample_anns[:1]]
    sample_anns[0]['joints'][6] = [float('nan'), float('inf')]
    sample_anns[0]['joints_vis'][6] = 0
    ds = _ds(mpii_sample_dir, _write(tmp_path, sample_anns, 'b.json'))
    assert len(ds) == 1 and np.all(ds.get_data_info(0)['keypoints'][0, 6] == 0)


def test_structural_problems_raise(mpii_sample_dir, sample_anns, tmp_path):
    bad = [dict(a) for a in sample_anns]
    bad[2]['joints'] = bad[2]['joints'][:14]
    with pytest.raises(ValueError, match=r'ann.json: record 2 .*\(14, 2\)'):
        _ds(mpii_sample_dir, _write(tmp_path, bad))
    with pytest.raises(ValueError, match='empty split'):
        _ds(mpii_sample_dir, _write(tmp_path, [], 'empty.json'))
    with pytest.raises(FileNotFoundError, match='annotation file'):
        _ds(mpii_sample_dir, str(tmp_path / 'none.json'))
    ann = _write(tmp_path, sample_anns, 'ok.json')
    with pytest.raises(FileNotFoundError, match='head-box file'):
        _ds(mpii_sample_dir,
            ann,
            headbox_file=str(tmp_path / 'no.mat'),
            test_mode=True)
    hb = str(tmp_path / 'short.mat')
    savemat(hb, dict(headboxes_src=np.ones((2, 2, 3))))
    with pytest.raises(ValueError, match=r'expected \(2, 2, 5\)'):
        _ds(mpii_sample_dir, ann, headbox_file=hb, test_mode=True)
