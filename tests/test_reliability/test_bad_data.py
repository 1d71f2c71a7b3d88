"""Bad images and bad annotation records in a real training run.

A copy of the MPII sample (in ``tmp_path``) gets four bad image files
(truncated JPEG, zero-byte file, a text file renamed ``.jpg``, a record
whose image is missing) and bad records (NaN coordinate of a labelled joint,
zero-size box). The tiny SADI-Net config is run with MMPose's stock
``tools/train.py`` and ``SafeMpiiDataset`` + ``SafeLoadImage``:

* ``skip_bad_images=True``: training reaches the last epoch and the output
  names every skipped image (file and reason) and every skipped record;
* ``skip_bad_images=False``: the run stops at the first bad image with a
  ``BadImageError`` naming the file and the reason, before any checkpoint;
* a record with the wrong number of joints stops the run in either mode
  before the first iteration (a structural error of the file).
"""
import json
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

from tiny_configs import sadinet_tiny_config

EPOCHS = 2
BATCH = 3  # 9 usable records: 3 full batches, every record drawn each epoch

#: image file name -> (how it is broken, the reason SafeLoadImage gives).
#: MpiiDataset derives img_id from the name, so the names are numbers.
BAD_IMAGES = {
    '900000001.jpg': ('truncated JPEG (first 3000 bytes of a real one)',
                      'cannot read or decode'),
    '900000002.jpg': ('zero-byte file', 'empty file (0 bytes)'),
    '900000003.jpg': ('a text file renamed .jpg', 'cannot read or decode'),
    '900000004.jpg': ('missing file', 'file not found'),
}


def _train_tool():
    import mmpose
    return osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')


def _make_bad_copy(src: str, dst: str) -> dict:
    """Copy the sample to ``dst`` and add bad images and records.

    Returns:
        dict: annotation name -> record indices of the bad records.
    """
    shutil.copytree(src, dst)
    ann_dir = osp.join(dst, 'annotations')
    img_dir = osp.join(dst, 'images')
    with open(osp.join(ann_dir, 'mpii_sample.json')) as f:
        good = json.load(f)
    real_jpeg = osp.join(img_dir, good[0]['image'])
    with open(real_jpeg, 'rb') as f:
        data = f.read()
    with open(osp.join(img_dir, '900000001.jpg'), 'wb') as f:
        f.write(data[:3000])
    open(osp.join(img_dir, '900000002.jpg'), 'wb').close()
    with open(osp.join(img_dir, '900000003.jpg'), 'w') as f:
        f.write('this is not an image\n')

    def record(image, **changes):
        rec = json.loads(json.dumps(good[0]))
        rec['image'] = image
        rec.update(changes)
        return rec

    nan_joints = [list(j) for j in good[1]['joints']]
    nan_joints[3][0] = float('nan')
    bad = list(good) + [record(name) for name in BAD_IMAGES]
    nan_idx = len(bad)
    bad.append(dict(good[1], joints=nan_joints))
    zero_idx = len(bad)
    bad.append(dict(good[2], scale=0.0))
    with open(osp.join(ann_dir, 'bad.json'), 'w') as f:
        json.dump(bad, f)  # NaN written as the JSON extension Python reads

    wrong = list(good)
    wrong.insert(
        2,
        dict(
            good[2],
            joints=good[2]['joints'][:14],
            joints_vis=good[2]['joints_vis'][:14]))
    with open(osp.join(ann_dir, 'wrong_joints.json'), 'w') as f:
        json.dump(wrong, f)
    return dict(nan=nan_idx, zero_box=zero_idx, wrong_joints=2)


def bad_data_config(data_root: str,
                    train_ann: str,
                    skip_bad_images: bool,
                    max_epochs: int = EPOCHS) -> str:
    """The tiny SADI-Net config on ``train_ann`` with the safe data layer.

    Training reads ``annotations/<train_ann>`` with ``SafeMpiiDataset`` and
    ``SafeLoadImage(skip_bad_images=...)``; validation reads the clean
    sample (a test sample cannot be skipped).
    """
    text = sadinet_tiny_config(
        data_root, max_epochs=max_epochs, batch_size=BATCH)
    text = text.replace("dataset_type = 'MpiiDataset'",
                        "dataset_type = 'SafeMpiiDataset'")
    text = text.replace(
        "train_pipeline = [\n    dict(type='LoadImage'),",
        "train_pipeline = [\n    dict(type='SafeLoadImage', "
        f'skip_bad_images={skip_bad_images}),', 1)
    text = text.replace(
        'dataset=dict(**_dataset, pipeline=train_pipeline)',
        f"dataset=dict(_dataset, ann_file='annotations/{train_ann}', "
        'pipeline=train_pipeline)')
    assert ('SafeLoadImage' in text and train_ann in text
            and "dataset_type = 'SafeMpiiDataset'" in text), \
        'tiny config changed: the bad-data config could not be derived'
    return text


def _train(cfg_path, work_dir, timeout=400):
    cmd = [
        sys.executable,
        _train_tool(),
        str(cfg_path), '--work-dir',
        str(work_dir)
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def bad_data(tmp_path_factory, mpii_sample_dir):
    root = tmp_path_factory.mktemp('bad_mpii')
    data_root = str(root / 'data')
    indices = _make_bad_copy(mpii_sample_dir, data_root)
    return data_root, indices, root


@pytest.fixture(scope='module')
def skip_run(bad_data):
    """One training run with ``skip_bad_images=True`` (shared by the
    checks)."""
    data_root, indices, root = bad_data
    cfg = root / 'skip.py'
    cfg.write_text(bad_data_config(data_root, 'bad.json', True))
    work = root / 'work_skip'
    proc = _train(cfg, work)
    return proc, work, indices


@pytest.mark.slow
def test_skip_bad_images_trains_to_the_end(skip_run):
    proc, work, _ = skip_run
    assert proc.returncode == 0, (
        'skip_bad_images=True: training with bad images/records should '
        f'finish, rc={proc.returncode}\n{proc.stderr[-4000:]}')
    assert (work / f'epoch_{EPOCHS}.pth').is_file(), (
        f'skip_bad_images=True: the last checkpoint epoch_{EPOCHS}.pth is '
        f'missing; work dir holds {sorted(p.name for p in work.iterdir())}')
    import torch

    import sadinet_mmpose  # noqa: F401  (checkpoint allow-list)
    state = torch.load(work / f'epoch_{EPOCHS}.pth', map_location='cpu')
    bad = [
        k for k, v in state['state_dict'].items()
        if v.is_floating_point() and not torch.isfinite(v).all()
    ]
    assert not bad, f'skip run: non-finite weights after training: {bad[:5]}'


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(BAD_IMAGES))
def test_skip_run_names_each_skipped_image_and_reason(skip_run, name):
    proc, _, _ = skip_run
    how, reason = BAD_IMAGES[name]
    lines = [
        ln for ln in proc.stderr.splitlines()
        if 'BadImageWarning' in ln and name in ln
    ]
    assert lines, (f'skip run: no BadImageWarning for {name} ({how}); '
                   f'stderr tail:\n{proc.stderr[-3000:]}')
    assert any(
        reason in ln and 'skipped (skip_bad_images=True' in ln
        for ln in lines), (
            f'skip run: the warning for {name} ({how}) should give the reason '
            f'{reason!r}: {lines[0]}')


@pytest.mark.slow
def test_skip_run_reports_skipped_records(skip_run):
    proc, _, indices = skip_run
    lines = [
        ln for ln in proc.stderr.splitlines() if 'BadAnnotationWarning' in ln
    ]
    assert lines, ('skip run: no BadAnnotationWarning for the NaN / zero-box '
                   f'records; stderr tail:\n{proc.stderr[-3000:]}')
    text = ' '.join(lines)
    assert 'bad.json' in text and 'skipped 2 annotation record(s)' in text, \
        (f'skip run: the record warning should name the file and count 2: '
         f'{text}')
    assert (f'NaN/inf coordinates of a labelled joint (records '
            f'{indices["nan"]})') \
        in text, f'skip run: NaN record {indices["nan"]} not reported: {text}'
    assert f'zero-size or non-finite box (scale/center) (records ' \
        f'{indices["zero_box"]})' in text, \
        (f'skip run: zero-size box record {indices["zero_box"]} not reported: '
         f'{text}')


@pytest.mark.slow
def test_strict_mode_stops_at_first_bad_image(bad_data):
    data_root, _, root = bad_data
    cfg = root / 'strict.py'
    cfg.write_text(bad_data_config(data_root, 'bad.json', False))
    work = root / 'work_strict'
    proc = _train(cfg, work)
    assert proc.returncode != 0, \
        'skip_bad_images=False: a run over bad images must stop'
    m = re.search(
        r"BadImageError: bad image '([^']+)' \(record id=\d+, "
        r'img_id=\d+\): ([^\n]+)', proc.stderr)
    assert m, ('skip_bad_images=False: the error should be a BadImageError '
               f'naming file and record; stderr tail:\n{proc.stderr[-3000:]}')
    name = osp.basename(m.group(1))
    assert name in BAD_IMAGES, f'strict run blamed a good image: {m.group(0)}'
    assert BAD_IMAGES[name][1] in m.group(2), (
        f'strict run: reason for {name} should contain '
        f'{BAD_IMAGES[name][1]!r}: {m.group(0)}')
    ckpts = sorted(p.name for p in work.glob('*.pth')) if work.exists() else []
    assert not ckpts, ('strict run: it should stop within the first epoch, '
                       f'before any checkpoint, found {ckpts}')


@pytest.mark.slow
def test_wrong_joint_count_stops_before_training(bad_data):
    """A structural error stops the run in either mode, before iteration 1."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import sadinet_mmpose  # noqa: F401

    data_root, indices, root = bad_data
    cfg_path = root / 'wrong_joints.py'
    cfg_path.write_text(bad_data_config(data_root, 'wrong_joints.json', True))
    cfg = Config.fromfile(str(cfg_path))
    cfg.work_dir = str(root / 'work_wrong_joints')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert 'wrong_joints.json' in msg and f'record {indices["wrong_joints"]}' \
        in msg and '(14, 2), expected (16, 2)' in msg, (
            'wrong joint count: the error should name the file, the record '
            f'and both shapes: {msg}')
    assert isinstance(runner._train_loop, dict), (
        'wrong joint count: the error should come while the train loop is '
        'built (before any iteration), but the loop was built')


def test_non_numeric_mpii_image_name_is_named(tmp_path, mpii_sample_dir):
    """MMPose's MpiiDataset takes img_id = int(image name): a name such as
    'broken.jpg' gave a bare ``int()`` error; SafeMpiiDataset names it."""
    from mmpose.registry import DATASETS

    import sadinet_mmpose  # noqa: F401

    with open(osp.join(mpii_sample_dir, 'annotations',
                       'mpii_sample.json')) as f:
        anns = json.load(f)
    anns[3]['image'] = 'broken.jpg'
    ann_file = tmp_path / 'named.json'
    ann_file.write_text(json.dumps(anns))
    with pytest.raises(ValueError) as err:
        DATASETS.build(
            dict(
                type='SafeMpiiDataset',
                ann_file=str(ann_file),
                data_root=mpii_sample_dir,
                data_prefix=dict(img='images/'),
                pipeline=[]))
    msg = str(err.value)
    assert 'named.json' in msg and 'record 3' in msg and 'broken.jpg' in msg, \
        (f'non-numeric MPII image name: error should name file/record/image: '
         f'{msg}')
