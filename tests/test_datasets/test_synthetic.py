"""The synthetic generator and the datasets that generate on first use."""
import json
import os
import os.path as osp
import runpy

import numpy as np
import pytest

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.datasets import SyntheticLSPDataset, SyntheticMpiiDataset
from sadinet_mmpose.datasets.synthetic import (ensure_split, render_figure,
                                               sample_rng)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('difficulty', ['easy', 'standard'])
def test_render_deterministic_and_plausible(difficulty):
    a = render_figure(sample_rng(3, 5), (96, 96), difficulty)
    b = render_figure(sample_rng(3, 5), (96, 96), difficulty)
    np.testing.assert_array_equal(a['img'], b['img'], err_msg='same seed')
    c = render_figure(sample_rng(3, 6), (96, 96), difficulty)
    assert not np.array_equal(a['img'], c['img']), 'other index differs'
    for i in range(20):
        s = render_figure(sample_rng(0, i), (128, 128), difficulty)
        J = s['joints']
        assert J.shape == (16, 2) and s['headbox'].shape == (2, 2)
        # head above thorax above pelvis along the body axis
        axis = J[7] - J[6]
        assert np.dot(J[9] - J[7], axis) > 0 and np.dot(J[8] - J[7], axis) > 0
        # frontal: the person's left shoulder lies to the image-right of the
        # right one (right = image-right of an upright figure); back: reverse
        image_right = np.array([-axis[1], axis[0]])
        side = np.sign(np.dot(J[13] - J[12], image_right))
        assert side == (-1 if s['back'] else 1), f'{difficulty} {i}: sides'


def test_easy_is_frontal_without_truncation():
    for i in range(30):
        s = render_figure(sample_rng(1, i), (128, 128), 'easy')
        assert not s['back'] and s['joints_vis'].all(), f'easy image {i}'


def test_mpii_dataset_generates_and_evaluates(tmp_path):
    root = str(tmp_path / 'syn')
    ds = SyntheticMpiiDataset(
        data_root=root,
        split='val',
        num_images=6,
        image_size=64,
        test_mode=True)
    assert len(ds) == 6 and osp.isfile(osp.join(root, 'val', 'manifest.json'))
    info = ds.get_data_info(0)
    assert 'head_size' in info and info['head_size'].item() > 0
    from mmpose.evaluation import MpiiPCKAccuracy
    m = MpiiPCKAccuracy()
    m.process([], [
        dict(
            pred_instances=dict(
                keypoints=ds.get_data_info(i)['keypoints'] - 1.),
            gt_instances={
                k: ds.get_data_info(i)[k]
                for k in ('keypoints', 'keypoints_visible', 'head_size')
            }) for i in range(6)
    ])
    assert m.compute_metrics(m.results)['PCK'] == pytest.approx(100.)
    # reuse with the same parameters; refuse other parameters / user data
    SyntheticMpiiDataset(
        data_root=root, split='val', num_images=6, image_size=64)
    with pytest.raises(ValueError, match='num_images'):
        SyntheticMpiiDataset(
            data_root=root, split='val', num_images=7, image_size=64)
    os.makedirs(osp.join(root, 'train', 'images'))
    with pytest.raises(FileExistsError, match='no manifest'):
        SyntheticMpiiDataset(
            data_root=root, split='train', num_images=2, image_size=64)
    train = SyntheticMpiiDataset(
        data_root=str(tmp_path / 'syn2'), num_images=6, image_size=64)
    assert not np.allclose(train.get_data_info(0)['keypoints'],
                           ds.get_data_info(0)['keypoints']), \
        'train and val use different seeds'


def test_lsp_variant(tmp_path):
    from scipy.io import loadmat
    ds = SyntheticLSPDataset(
        data_root=str(tmp_path / 'lsp'), num_images=4, image_size=64)
    assert len(ds) == 4 and ds.metainfo['num_keypoints'] == 14
    raw = loadmat(
        str(tmp_path / 'lsp' / 'train' / 'lsp_dataset' /
            'joints.mat'))['joints']
    assert raw.shape == (3, 14, 4), 'original LSP layout'
    assert osp.isfile(ds.get_data_info(0)['img_path'])


def test_cli_and_atomic_output(tmp_path, capsys):
    main = runpy.run_path(osp.join(REPO, 'tools',
                                   'generate_synthetic.py'))['main']
    out = str(tmp_path / 'g')
    assert main(
        [out, '--splits', 'train', '--num-images', '3', '--image-size',
         '48']) == 0
    assert 'images/s' in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['.train.lock', 'train']
    with open(osp.join(out, 'train', 'manifest.json')) as f:
        assert json.load(f)['num_images'] == 3
    assert main(
        [out, '--splits', 'train', '--num-images', '4', '--image-size',
         '48']) == 1, 'mismatch is an error'
    m = ensure_split(
        osp.join(out, 'train'),
        num_images=3,
        image_size=48,
        difficulty='easy',
        seed=0,
        skeleton='mpii')
    assert m['image_size'] == [48, 48]


@pytest.mark.parametrize('name',
                         ['SyntheticMpiiDataset', 'SyntheticLSPDataset'])
def test_misspelt_key_is_named_before_anything_is_generated(name, tmp_path):
    from mmpose.registry import DATASETS
    with pytest.raises(
            TypeError,
            match="unknown argument 'num_image'; did "
            "you mean 'num_images'"):
        DATASETS.build(dict(type=name, data_root=str(tmp_path), num_image=4))
    with pytest.raises(TypeError, match="'ann_file' is set by the class"):
        DATASETS.build(
            dict(type=name, data_root=str(tmp_path), ann_file='x.json'))
    assert not list(tmp_path.iterdir()), 'nothing generated'
