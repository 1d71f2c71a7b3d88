"""The atomic checkpoint backend writes files with the permissions mmengine's
own writer gives them (the umask; an existing file keeps its mode)."""
import os
import stat

import pytest
import torch
from mmengine.fileio import LocalBackend, get_file_backend  # noqa: E402
from mmengine.runner.checkpoint import save_checkpoint  # noqa: E402

from sadinet_mmpose.engine.atomic_backend import current_umask  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip


@pytest.fixture
def umask():
    """Set the process umask for one test; restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('mask', [0o022, 0o002, 0o077, 0o027])
def test_put_follows_umask_like_mmengine(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    atomic = get_file_backend(
        str(tmp_path), backend_args=dict(backend='atomic_local'))
    atomic.put(b'weights', tmp_path / 'atomic.pth')
    atomic.put_text('text', tmp_path / 'atomic.txt')
    LocalBackend().put(b'weights', tmp_path / 'mmengine.pth')
    want = _mode(tmp_path / 'mmengine.pth')
    assert want == 0o666 & ~mask
    for name in ('atomic.pth', 'atomic.txt'):
        got = _mode(tmp_path / name)
        assert got == want, (f'umask {mask:04o}: {name} has mode {got:04o}, '
                             f"mmengine's writer gives {want:04o}")


def test_save_checkpoint_is_group_and_world_readable_under_umask_022(
        tmp_path, umask):
    """mmengine's ``save_checkpoint`` (what the runner calls) through the
    backend the configs select: 0644 under the usual umask."""
    umask(0o022)
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint(
        dict(state_dict=dict(w=torch.zeros(2))),
        str(path),
        backend_args=dict(backend='atomic_local'))
    assert _mode(path) == 0o644, f'checkpoint mode {_mode(path):04o}, not 0644'
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.partial-')]


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    """``open(path, 'wb')`` on an existing file keeps its mode; so does the
    atomic rename over it."""
    umask(0o022)
    path = tmp_path / 'last_checkpoint'
    path.write_text('old')
    os.chmod(path, 0o640)
    get_file_backend(
        str(tmp_path),
        backend_args=dict(backend='atomic_local')).put_text('new', path)
    assert path.read_text() == 'new'
    assert _mode(path) == 0o640, f'mode became {_mode(path):04o}, not 0640'
