"""torch >= 2.6 weights-only loading of mmengine checkpoints."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from tiny_configs import stock_tiny_config


def _mmpose_tool(name: str) -> str:
    import mmpose
    return osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', name)


def _run(args, cwd):
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, (f'{args[0]} failed:\n{proc.stdout[-3000:]}\n'
                                  f'{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr


def test_allow_list_is_exact():
    from mmengine.logging.history_buffer import HistoryBuffer

    from sadinet_mmpose.compat.torch_weights_only import (
        _history_buffer_getattr, mmengine_checkpoint_globals)
    allowed = mmengine_checkpoint_globals()
    assert HistoryBuffer in allowed
    assert getattr not in allowed, ('the real builtin getattr must not be '
                                    'allowed')
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(RuntimeError, match='refused getattr'):
        _history_buffer_getattr(torch.Tensor, 'mean')
    with pytest.raises(RuntimeError, match='refused getattr'):
        _history_buffer_getattr(HistoryBuffer, '__init__')


def test_safe_loading_still_refuses_other_objects(tmp_path):
    import sadinet_mmpose  # noqa: F401  (registers the allow-list)

    class Evil:

        def __reduce__(self):
            return (os.system, ('echo pwned', ))

    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'state_dict': {}, 'x': Evil()}, f)
    with pytest.raises(
            pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(path)


@pytest.mark.slow
def test_train_save_test_resume_with_stock_tools(tmp_path, mpii_sample_dir):
    """Stock ``tools/train.py`` -> ``tools/test.py`` -> ``train.py
    --resume``."""
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(stock_tiny_config(mpii_sample_dir, max_epochs=2))
    work = tmp_path / 'work'
    _run([_mmpose_tool('train.py'),
          str(cfg), '--work-dir',
          str(work)], tmp_path)
    ckpt = work / 'epoch_2.pth'
    assert ckpt.is_file()

    import sadinet_mmpose  # noqa: F401
    loaded = torch.load(ckpt)  # weights_only=True is the default here
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(loaded)

    out = _run([
        _mmpose_tool('test.py'),
        str(cfg),
        str(ckpt), '--work-dir',
        str(tmp_path / 'test')
    ], tmp_path)
    assert 'PCK' in out, out[-2000:]

    # Resume: train to 3 epochs from epoch 2's checkpoint.
    cfg3 = tmp_path / 'tiny3.py'
    cfg3.write_text(stock_tiny_config(mpii_sample_dir, max_epochs=3))
    out = _run([
        _mmpose_tool('train.py'),
        str(cfg3), '--work-dir',
        str(work), '--resume',
        str(ckpt)
    ], tmp_path)
    assert 'resumed epoch: 2' in out.replace('Resumed', 'resumed').replace(
        'resumed epoch: 2, iter', 'resumed epoch: 2'), out[-3000:]
    assert (work / 'epoch_3.pth').is_file()
