"""LSP / LSPET conversion (both original layouts) and LSPDataset."""
import json
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest

import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)
from sadinet_mmpose.datasets import BadAnnotationWarning, LSPDataset
from sadinet_mmpose.datasets.lsp_convert import (box_from_joints, convert_lsp,
                                                 write_documents)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _joints(n, seed):
    """Plausible (n, 14, 2) joints: a stick person in a 100x150 frame."""
    rng = np.random.default_rng(seed)
    base = np.array([[40, 140], [42, 110], [45, 80], [60, 80], [62, 110],
                     [64, 140], [30, 70], [35, 55], [45, 40], [60, 40],
                     [70, 55], [75, 70], [52, 30], [52, 10]], float)
    return base[None] + rng.uniform(-3, 3, (n, 14, 2))


def _write_images(root, folder, n, digits):
    os.makedirs(osp.join(root, folder, 'images'), exist_ok=True)
    for i in range(n):
        cv2.imwrite(
            osp.join(root, folder, 'images', f'im{i + 1:0{digits}d}.jpg'),
            np.full((160, 110, 3), 128, np.uint8))


@pytest.fixture
def lsp_root(tmp_path):
    """4 LSP images in the original (3, 14, N) layout (flag 1 = occluded)
    and 3 LSPET images in (14, 3, N) (flag 1 = visible)."""
    from scipy.io import savemat
    root = str(tmp_path / 'lsp')
    kl = _joints(4, 0)
    occ = np.zeros((4, 14))
    occ[0, 6] = 1  # LSP image 1: right wrist occluded
    raw = np.concatenate([kl, occ[..., None]], -1).transpose(2, 1, 0)
    assert raw.shape == (3, 14, 4)
    _write_images(root, 'lsp_dataset', 4, 4)
    savemat(osp.join(root, 'lsp_dataset', 'joints.mat'), dict(joints=raw))
    ke = _joints(3, 1)
    vis = np.ones((3, 14))
    vis[1, 13] = 0  # LSPET image 2: head top not visible
    raw_e = np.concatenate([ke, vis[..., None]], -1).transpose(1, 2, 0)
    assert raw_e.shape == (14, 3, 3)
    _write_images(root, 'lspet_dataset', 3, 5)
    savemat(osp.join(root, 'lspet_dataset', 'joints.mat'), dict(joints=raw_e))
    return root, kl, ke


def test_convert_reads_both_layouts(lsp_root):
    root, kl, ke = lsp_root
    docs = convert_lsp(root)
    assert set(docs) == {'lsp_train', 'lsp_test', 'lspet_train'}
    tr, te = docs['lsp_train']['annotations'], docs['lsp_test']['annotations']
    assert [r['index'] for r in tr] == [0, 1] and [r['index'] for r in te] \
        == [2, 3], 'LSP split: first half train, second half test'
    assert tr[0]['image'] == 'lsp_dataset/images/im0001.jpg'
    # the release's 1-based (MATLAB) pixels become 0-based
    np.testing.assert_allclose(
        tr[0]['joints'],
        kl[0] - 1.,
        atol=1e-3,
        err_msg='LSP (3,14,N) coordinates')
    assert docs['lsp_train']['info']['format'] == 'sadinet-lsp-v2'
    assert tr[0]['joints_occluded'][6] == 1 and sum(
        tr[0]['joints_occluded']) == 1, 'LSP flag 1 means occluded'
    assert all(v == 1 for v in tr[0]['joints_vis']), \
        'LSP occluded joints stay labelled by default'
    et = docs['lspet_train']['annotations']
    assert et[1]['image'] == 'lspet_dataset/images/im00002.jpg'
    np.testing.assert_allclose(
        et[2]['joints'],
        ke[2] - 1.,
        atol=1e-3,
        err_msg='LSPET (14,3,N) coordinates')
    assert et[1]['joints_vis'][13] == 0 and sum(et[1]['joints_vis']) == 13, \
        'LSPET flag 1 means visible'
    docs2 = convert_lsp(root, lspet_dir=None, occluded_as_labelled=False)
    assert docs2['lsp_train']['annotations'][0]['joints_vis'][6] == 0, \
        'occluded -> unlabelled option'


def test_convert_layout_mismatch_is_explained(lsp_root, tmp_path):
    root, _, _ = lsp_root
    with pytest.raises(ValueError, match='LSPET layout'):
        convert_lsp(root, lsp_dir='lspet_dataset', lspet_dir=None)
    with pytest.raises(ValueError, match='original LSP layout'):
        convert_lsp(root, lsp_dir=None, lspet_dir='lsp_dataset')
    os.remove(osp.join(root, 'lsp_dataset', 'images', 'im0003.jpg'))
    with pytest.raises(FileNotFoundError, match='im0003.jpg'):
        convert_lsp(root, lspet_dir=None)


def test_box_margin():
    k = np.array([[10., 20.], [30., 60.], [0., 0.]])
    box = box_from_joints(k, np.array([1, 1, 0]), margin=0.1)
    np.testing.assert_allclose(
        box, [6, 16, 34, 64],
        err_msg='margin 0.1 x '
        'longer side (40) on each side')
    assert box_from_joints(k, np.array([1, 0, 0])) is None, \
        'a single joint gives a zero-size box'


def test_cli(lsp_root, tmp_path, capsys):
    root, _, _ = lsp_root
    main = runpy.run_path(osp.join(REPO, 'tools', 'convert_lsp.py'))['main']
    out = str(tmp_path / 'ann')
    assert main([root, '--out-dir', out]) == 0
    assert sorted(os.listdir(out)) == [
        'lsp_test.json', 'lsp_train.json', 'lspet_train.json'
    ]
    assert main([str(tmp_path / 'nowhere')]) == 2, 'missing DATA_ROOT'
    assert main([root, '--lspet-dir', 'nope']) == 2, 'missing LSPET folder'
    assert 'not found' in capsys.readouterr().err


def _dataset_from(docs, root, tmp_path, split='lsp_train', **kw):
    out = str(tmp_path / 'ann')
    write_documents(docs, out)
    return LSPDataset(
        ann_file=osp.join(out, f'{split}.json'),
        data_root=root,
        data_prefix=dict(img=root + '/'),
        **kw)


def test_lsp_dataset_and_pipeline(lsp_root, tmp_path):
    root, kl, _ = lsp_root
    ds = _dataset_from(
        convert_lsp(root),
        root,
        tmp_path,
        test_mode=True,
        pipeline=[
            dict(type='SafeLoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=(64, 64)),
            dict(type='PackPoseInputs')
        ])
    assert len(ds) == 2 and ds.metainfo['num_keypoints'] == 14
    assert ds.metainfo['flip_indices'] == [
        5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13
    ], 'LSP flip pairs'
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['keypoints'][0], kl[0] - 1., atol=1e-3)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 64, 64)


def test_lsp_dataset_bad_records(lsp_root, tmp_path):
    root, _, _ = lsp_root
    docs = convert_lsp(root)
    recs = docs['lspet_train']['annotations']
    recs[0]['joints'][3] = [float('nan'), 1.0]
    recs[1]['bbox'] = [5, 5, 5, 9]
    with pytest.warns(BadAnnotationWarning, match='skipped 2') as rec:
        ds = _dataset_from(docs, root, tmp_path, split='lspet_train')
    msg = str(rec[0].message)
    assert 'NaN/inf' in msg and 'zero-size' in msg, msg
    assert len(ds) == 1 and set(ds.skipped_records) == {
        'NaN/inf coordinates of a labelled joint',
        'zero-size or non-finite box'
    }
    recs[2]['joints'] = recs[2]['joints'][:13]
    with pytest.raises(ValueError, match=r'record 2 .*\(13, 2\)'):
        _dataset_from(docs, root, tmp_path, split='lspet_train')
    docs['lspet_train']['annotations'] = []
    with pytest.raises(ValueError, match='no usable record'):
        _dataset_from(docs, root, tmp_path, split='lspet_train')
    with pytest.raises(FileNotFoundError, match='annotation file'):
        LSPDataset(ann_file=str(tmp_path / 'missing.json'))


def test_unconverted_v1_file_is_refused(lsp_root, tmp_path):
    from mmpose.registry import DATASETS
    root, _, _ = lsp_root
    doc = convert_lsp(root)['lsp_train']
    doc['info']['format'] = 'sadinet-lsp-v1'
    path = tmp_path / 'old.json'
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="'sadinet-lsp-v1'.*convert_lsp"):
        DATASETS.build(
            dict(
                type='LSPDataset',
                ann_file=str(path),
                data_prefix=dict(img=root + '/')))
