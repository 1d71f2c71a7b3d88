"""Checkpoint faults: which checkpoint a resume picks, and loading errors.

Unit tests drive :class:`CheckpointGuardHook` with a stand-in runner (only
``work_dir``, ``_resume`` and ``_load_from`` are read before the run); the
end-to-end tests use mmengine's ``Runner`` on the tiny SADI-Net config.
The SIGKILL-and-resume run itself is
``tests/test_engine/test_interrupted_training.py``.
"""
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch

from sadinet_mmpose.engine import (CheckpointGuardHook, describe_mismatch,
                                   is_complete_checkpoint,
                                   newest_complete_checkpoint)
from sadinet_mmpose.engine.atomic_backend import PARTIAL_PREFIX
from tiny_configs import sadinet_tiny_config

import sadinet_mmpose  # noqa: F401  isort: skip


def _save(path, value=0.):
    torch.save({
        'state_dict': {
            'w': torch.full((64, 64), value)
        },
        'meta': {}
    }, str(path))
    return str(path)


def _truncate(src, dst, keep=200):
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(data[:keep])
    return str(dst)


@pytest.fixture
def work_dir(tmp_path):
    """epoch_1, epoch_2 complete; epoch_3 truncated; a leftover temp file."""
    _save(tmp_path / 'epoch_1.pth', 1.)
    _save(tmp_path / 'epoch_2.pth', 2.)
    _truncate(tmp_path / 'epoch_2.pth', tmp_path / 'epoch_3.pth')
    _truncate(
        tmp_path / 'epoch_2.pth',
        tmp_path / f'{PARTIAL_PREFIX}epoch_4.pth.abc123',
        keep=5000)
    return tmp_path


def _runner(work, resume=True, load_from=None):
    return SimpleNamespace(
        work_dir=str(work), _resume=resume, _load_from=load_from)


def _last(work):
    return (work / 'last_checkpoint').read_text().strip()


def test_truncated_file_is_not_a_complete_checkpoint(work_dir, tmp_path):
    assert is_complete_checkpoint(str(work_dir / 'epoch_2.pth')), \
        'a whole torch.save file should count as complete'
    for name in ('epoch_3.pth', f'{PARTIAL_PREFIX}epoch_4.pth.abc123'):
        assert not is_complete_checkpoint(str(work_dir / name)), \
            f'{name} (truncated) should not count as complete'
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    assert not is_complete_checkpoint(
        str(empty)), 'a 0-byte file is not complete'
    assert not is_complete_checkpoint(str(tmp_path / 'nope.pth')), \
        'a missing file is not complete'
    assert newest_complete_checkpoint(str(work_dir)) == str(
        work_dir /
        'epoch_2.pth'), 'newest complete should skip truncated epoch_3'


@pytest.mark.parametrize('record', ['absent', 'empty', 'truncated', 'missing'])
def test_auto_resume_picks_newest_complete_checkpoint(work_dir, record,
                                                      caplog):
    """last_checkpoint absent / empty / naming a truncated or missing file."""
    named = {
        'absent': None,
        'empty': '',
        'truncated': str(work_dir / 'epoch_3.pth'),
        'missing': str(work_dir / 'epoch_9.pth')
    }[record]
    if named is not None:
        (work_dir / 'last_checkpoint').write_text(named)
    CheckpointGuardHook().before_run(_runner(work_dir))
    if record == 'absent':
        # mmengine itself starts from scratch without the record; the hook
        # still points it at the newest complete checkpoint
        assert (work_dir / 'last_checkpoint').exists(), \
            'absent last_checkpoint: the hook should write one'
    assert _last(work_dir) == str(work_dir / 'epoch_2.pth'), (
        f'last_checkpoint {record}: resume should use the newest complete '
        f'checkpoint epoch_2.pth, got {_last(work_dir)}')


def test_complete_last_checkpoint_is_kept(work_dir):
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    CheckpointGuardHook().before_run(_runner(work_dir))
    assert _last(work_dir) == str(work_dir / 'epoch_1.pth'), \
        'a complete checkpoint named by last_checkpoint must be left alone'


def test_leftover_partial_files_are_reported_and_ignored(
        work_dir, monkeypatch):
    from sadinet_mmpose.engine.hooks import checkpoint_guard
    logged = []
    monkeypatch.setattr(checkpoint_guard, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    CheckpointGuardHook().before_run(_runner(work_dir))
    out = '\n'.join(logged)
    assert 'unfinished checkpoint write' in out and \
        f'{PARTIAL_PREFIX}epoch_4.pth.abc123' in out, \
        f'leftover temp file should be named in a warning, got: {out!r}'
    assert (work_dir / f'{PARTIAL_PREFIX}epoch_4.pth.abc123').exists(), \
        'the hook must not delete the leftover file (evidence for the user)'
    assert _last(work_dir).endswith('epoch_2.pth'), \
        'a leftover temp file must never be resumed'


def test_no_complete_checkpoint_starts_from_scratch(tmp_path):
    _save(tmp_path / 'whole.pth')
    bad = _truncate(tmp_path / 'whole.pth', tmp_path / 'epoch_1.pth')
    os.remove(tmp_path / 'whole.pth')
    (tmp_path / 'last_checkpoint').write_text(bad)
    CheckpointGuardHook().before_run(_runner(tmp_path))
    assert not (tmp_path / 'last_checkpoint').exists() and \
        (tmp_path / 'last_checkpoint.invalid').exists(), (
            'only a truncated checkpoint: last_checkpoint should be moved '
            'aside (.invalid) so the run starts from scratch')


def test_explicit_resume_of_truncated_file_fails_clearly(work_dir):
    bad = str(work_dir / 'epoch_3.pth')
    with pytest.raises(RuntimeError) as err:
        CheckpointGuardHook().before_run(_runner(work_dir, load_from=bad))
    msg = str(err.value)
    assert bad in msg and 'incomplete' in msg and \
        str(work_dir / 'epoch_2.pth') in msg, (
            '--resume <truncated>: the error should name the file and the '
            f'newest complete checkpoint: {msg}')


def test_fresh_run_does_not_overwrite_checkpoints(work_dir):
    runner = _runner(work_dir, resume=False)
    with pytest.raises(RuntimeError, match='already holds checkpoints'):
        CheckpointGuardHook().before_train(runner)
    CheckpointGuardHook(allow_overwrite=True).before_train(runner)


# --------------------------------------------------------------------------
# model / checkpoint mismatch
# --------------------------------------------------------------------------
def test_describe_mismatch_lists_keys_and_shapes():
    model = {
        'a.weight': torch.zeros(4, 3),
        'a.bias': torch.zeros(4),
        'b.weight': torch.zeros(2, 4)
    }
    assert describe_mismatch(model,
                             dict(model)) is None, 'same state: no report'
    ddp = {'module.' + k: v for k, v in model.items()}
    assert describe_mismatch(model,
                             ddp) is None, "DDP 'module.' prefix ignored"
    ckpt = {
        'a.weight': torch.zeros(5, 3),
        'a.bias': torch.zeros(4),
        'c.weight': torch.zeros(1)
    }
    report = describe_mismatch(model, ckpt)
    assert report is not None, 'a shape mismatch must be reported'
    for part in ('shape mismatch a.weight: checkpoint (5, 3), model (4, 3)',
                 'missing b.weight', 'unexpected c.weight',
                 '1 tensors differ in shape'):
        assert part in report, f'mismatch report lacks {part!r}:\n{report}'
    other = {'x.%d' % i: torch.zeros(1) for i in range(3)}
    assert 'missing' in (describe_mismatch(model, other) or ''), \
        'a checkpoint of another model (no shared key) must be reported'


def _sadinet_runner(tmp_path, sample, **cfg_changes):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg_path = tmp_path / 'tiny.py'
    cfg_path.write_text(sadinet_tiny_config(sample, max_epochs=1))
    cfg = Config.fromfile(str(cfg_path))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.update(cfg_changes)
    return Runner.from_cfg(cfg)


@pytest.mark.slow
def test_runner_load_checkpoint_of_other_model_names_keys(
        tmp_path, mpii_sample_dir):
    """End to end: Runner.load_checkpoint with a narrower head's weights."""
    from mmpose.registry import MODELS
    runner = _sadinet_runner(tmp_path, mpii_sample_dir)
    other_cfg = runner.cfg.model.copy()
    other_cfg['head'] = dict(other_cfg['head'], out_channels=14)
    other = MODELS.build(other_cfg)
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': other.state_dict(), 'meta': {}}, str(path))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with pytest.raises(RuntimeError) as err:
        runner.load_checkpoint(str(path))
    msg = str(err.value)
    assert 'does not fit the model MSTopdownPoseEstimator' in msg and \
        'shape mismatch head.' in msg and \
        'checkpoint (14,' in msg and 'model (16,' in msg, (
            'loading a 14-joint checkpoint into a 16-joint model should list '
            f'the keys with both shapes:\n{msg}')
    after = runner.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), \
        'a refused checkpoint must not be half-loaded into the model'


@pytest.mark.slow
def test_runner_resume_from_truncated_path_fails_before_training(
        tmp_path, mpii_sample_dir):
    """End to end: ``resume=True, load_from=<truncated>`` (= --resume PATH)."""
    good = _save(tmp_path / 'epoch_1.pth')
    bad = _truncate(good, tmp_path / 'epoch_2.pth')
    runner = _sadinet_runner(
        tmp_path, mpii_sample_dir, resume=True, load_from=bad)
    with pytest.raises(RuntimeError) as err:
        runner.train()
    msg = str(err.value)
    assert bad in msg and 'incomplete' in msg and good in msg, \
        f'--resume <truncated>: unclear error: {msg}'
    assert not osp.exists(osp.join(runner.work_dir, 'epoch_1.pth')), \
        '--resume <truncated>: no training may happen'
