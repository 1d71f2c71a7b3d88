"""The ``hard`` tier, and that ``easy`` and ``standard`` still draw what
they drew before it existed."""
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
from scipy.io import loadmat

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.datasets import SyntheticMpiiDataset
from sadinet_mmpose.datasets.synthetic import (ensure_split, generate_split,
                                               make_manifest, render_figure,
                                               sample_rng, vector_length)
from sadinet_mmpose.datasets.synthetic_hard import (HARD_PARAMS, HARD_VERSION,
                                                    MPII_MIRROR, TAG_NAMES,
                                                    hard_version, render_hard)

#: sha256 of what the generator drew for seed 7, six 96x80 images, before
#: the ``hard`` tier was added: the raw rendered arrays, the manifest
#: (without its timing), ``annotations.json`` and the ``.mat`` arrays.
BEFORE_HARD = {
    ('easy', 'mpii'):
    'e35298a85b4a3a258354534dba5768174b6f4fd419d5f5f4c1d0ca39dfbe433e',
    ('easy', 'lsp'):
    '3bef3aa4324d0dce90fe7f6b17d10f805a6e0c786e92c4a161e8155a0e5553b2',
    ('standard', 'mpii'):
    'c7c5563b5b6eb4a1ad5aa6776457e4da0329e4f64613ed41e4fe160d48ff2915',
    ('standard', 'lsp'):
    '9d2de0e900a0083a36accdc85db7567d4d7ac83794538fe48ca51d5973ba7146',
}


def _fingerprint(difficulty, skeleton, tmp):
    h = hashlib.sha256()
    for i in range(6):
        s = render_figure(sample_rng(7, i), (96, 80), difficulty)
        for k in ('img', 'joints', 'joints_vis', 'occluded', 'headbox'):
            h.update(np.ascontiguousarray(s[k]).tobytes())
        h.update(bytes([int(s['back'])]))
    d = osp.join(tmp, f'{difficulty}_{skeleton}')
    generate_split(
        d,
        num_images=6,
        image_size=(96, 80),
        difficulty=difficulty,
        seed=7,
        skeleton=skeleton)
    with open(osp.join(d, 'manifest.json')) as f:
        m = json.load(f)
    m.pop('images_per_s')
    h.update(json.dumps(m, sort_keys=True).encode())
    with open(osp.join(d, 'annotations.json'), 'rb') as f:
        h.update(f.read())
    for root, _, files in sorted(os.walk(d)):
        for name in sorted(files):
            if name.endswith('.mat'):
                mat = loadmat(osp.join(root, name))
                for k in sorted(k for k in mat if not k.startswith('__')):
                    h.update(k.encode())
                    h.update(np.ascontiguousarray(mat[k]).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize('difficulty,skeleton', sorted(BEFORE_HARD))
def test_easy_and_standard_draw_what_they_drew(difficulty, skeleton, tmp_path):
    assert _fingerprint(difficulty, skeleton, str(tmp_path)) == \
        BEFORE_HARD[(difficulty, skeleton)]


def test_existing_folders_keep_loading(tmp_path):
    # a folder written before the hard tier: its manifest says version 2
    split = str(tmp_path / 'val')
    ensure_split(
        split,
        num_images=3,
        image_size=64,
        difficulty='standard',
        seed=1,
        skeleton='mpii')
    with open(osp.join(split, 'manifest.json')) as f:
        assert json.load(f)['version'] == 2
    stamp = os.stat(osp.join(split, 'annotations.json')).st_mtime_ns
    ds = SyntheticMpiiDataset(
        data_root=str(tmp_path),
        split='val',
        num_images=3,
        image_size=64,
        seed=1,
        difficulty='standard',
        test_mode=True)
    assert len(ds) == 3
    assert os.stat(osp.join(split, 'annotations.json')).st_mtime_ns == stamp
    # the hard tier has a version of its own and never reuses that folder
    version = make_manifest(3, 64, 'hard', 1, 'mpii')['version']
    assert version.startswith(f'hard-{HARD_VERSION}-') and version == \
        hard_version()
    with pytest.raises(ValueError, match='difficulty'):
        ensure_split(
            split,
            num_images=3,
            image_size=64,
            difficulty='hard',
            seed=1,
            skeleton='mpii')


def test_a_hard_folder_of_other_parameters_is_refused(tmp_path, monkeypatch):
    split = str(tmp_path / 'val')
    ensure_split(
        split,
        num_images=2,
        image_size=64,
        difficulty='hard',
        seed=1,
        skeleton='mpii')
    monkeypatch.setitem(HARD_PARAMS, 'clutter', HARD_PARAMS['clutter'] + 1)
    with pytest.raises(ValueError, match='version'):
        ensure_split(
            split,
            num_images=2,
            image_size=64,
            difficulty='hard',
            seed=1,
            skeleton='mpii')


def test_hard_is_deterministic_and_tagged():
    a = render_hard(sample_rng(4, 2))
    b = render_hard(sample_rng(4, 2))
    np.testing.assert_array_equal(a['img'], b['img'])
    scenes = [render_hard(sample_rng(4, i)) for i in range(120)]
    overlapping = sum(s['overlap'] for s in scenes)
    assert overlapping >= 0.4 * len(scenes), overlapping
    for s in scenes:
        for p in s['persons']:
            J, hb = p['joints'], p['headbox']
            assert set(p['tags']) == set(TAG_NAMES)
            head = 0.6 * np.linalg.norm(hb[1] - hb[0])
            near = np.linalg.norm(J - J[list(MPII_MIRROR)], axis=1) <= \
                0.5 * head
            near[[6, 7, 8, 9]] = False  # no mirror joint
            np.testing.assert_array_equal(p['tags']['lookalike'], near)
            assert (p['tags']['small'] == (p['height'] < 0.5)).all()
            assert 0.35 <= p['height'] <= 0.95
            assert np.abs(p['box_noise'][:2]).max() <= 0.15
            assert abs(p['box_noise'][2]) <= 0.25
            # tags of unlabelled joints are off (except person-level ones)
            for k in ('occluded', 'overlapped'):
                assert not np.any(p['tags'][k] & (p['joints_vis'] == 0))
            assert p['tags']['truncated'].all() == (not p['joints_vis'].all())


def test_hard_sides_share_one_colour():
    """On a bare figure (no clutter, occluder, damage, texture or second
    figure), the pixels of the left and the right upper arm are equal."""
    bare = dict(
        HARD_PARAMS,
        second_prob=0.,
        occluders=0,
        clutter=0,
        texture_prob=0.,
        blur_prob=0.,
        jpeg_prob=0.,
        contrast_prob=0.,
        gradient_prob=0.,
        trunc_prob=0.)
    checked = 0
    for i in range(20):
        s = render_hard(sample_rng(9, i), (160, 160), bare)
        J = s['persons'][0]['joints']
        # midpoints of the upper arms, the thighs
        pairs = [((12, 11), (13, 14)), ((2, 1), (3, 4))]
        for (a, b), (c, d) in pairs:
            p = np.round((J[a] + J[b]) / 2).astype(int)
            q = np.round((J[c] + J[d]) / 2).astype(int)
            if np.linalg.norm(p - q) < 12:  # the two limbs touch
                continue
            # the torso may cover a limb: compare only where both are limb
            pp, qq = s['img'][p[1], p[0]], s['img'][q[1], q[0]]
            if np.array_equal(pp, qq):
                checked += 1
    assert checked >= 20


def test_hard_split_writes_one_record_per_person(tmp_path):
    root = str(tmp_path)
    ds = SyntheticMpiiDataset(
        data_root=root,
        split='test',
        num_images=12,
        difficulty='hard',
        test_mode=True)
    with open(osp.join(root, 'test', 'manifest.json')) as f:
        m = json.load(f)
    with open(osp.join(root, 'test', 'tags.json')) as f:
        tags = json.load(f)
    assert len(ds) == m['persons'] > 12
    assert tags['names'] == list(TAG_NAMES)
    assert all(len(tags['tags'][k]) == m['persons'] for k in TAG_NAMES)
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert len(set(ids)) == 12, 'two records share an image'
    info = ds.get_data_info(0)
    assert info['head_size'].item() > 0


def test_hard_needs_the_mpii_skeleton(tmp_path):
    with pytest.raises(ValueError, match='MPII skeleton'):
        generate_split(
            str(tmp_path / 'x'),
            num_images=2,
            difficulty='hard',
            skeleton='lsp')


def test_the_calibrated_tier_is_frozen():
    """The tier the plain hourglass was calibrated on
    (benchmarks/results/hard/calibration.md). A change to its parameters
    must come with a new version and a new calibration."""
    assert hard_version() == 'hard-3-cac86cd2'


#: sha256 of what ``render_hard`` draws for seed 7, images 0-79 at 64x64:
#: the pixels and each person's joints, head box and box noise, as the
#: calibrated tier's data were drawn (with BLAS kernels without AVX-512).
HARD_DRAWN = '52ede452b493812ef64082627f419c8a59d3e7a4e1ddbb4867447e02a6f17550'


def test_hard_draws_the_same_on_every_cpu():
    """BLAS's dot product rounds differently under AVX-512, which moved the
    head boxes by 1e-14 px on such CPUs; the generators use no BLAS."""
    h = hashlib.sha256()
    for i in range(80):
        s = render_hard(sample_rng(7, i), (64, 64))
        h.update(s['img'].tobytes())
        for p in s['persons']:
            for k in ('joints', 'headbox', 'box_noise'):
                h.update(
                    np.ascontiguousarray(p[k], dtype=np.float64).tobytes())
    assert h.hexdigest() == HARD_DRAWN


def test_generators_call_no_blas(monkeypatch):
    norm = np.linalg.norm

    def vector_norm_refused(x, *args, **kwargs):
        if np.ndim(x) == 1 and not args and 'axis' not in kwargs:
            raise AssertionError('np.linalg.norm of a vector calls BLAS')
        return norm(x, *args, **kwargs)

    monkeypatch.setattr(np.linalg, 'norm', vector_norm_refused)
    for i in range(20):
        render_hard(sample_rng(3, i), (64, 64))
        for difficulty in ('easy', 'standard'):
            render_figure(sample_rng(3, i), (64, 64), difficulty)


def test_vector_length():
    assert vector_length(np.array([3., 4.])) == 5.
    v = np.array([0.1, 0.7])
    assert vector_length(v) == float(np.sqrt(v[0] * v[0] + v[1] * v[1]))
