"""A training run killed with SIGKILL at random moments resumes to the end.

The run is MMPose's stock ``tools/train.py`` on a tiny model; a small wrapper
(the ``_KILLER`` script below) SIGKILLs the process at a chosen iteration or
half-way through writing a checkpoint. After every kill the same command with
``--resume`` goes on; the final weights must equal those of an uninterrupted
run with the same seed (the RNG states travel in the checkpoints, see
``RNGStateHook``, and the data loaders run in the main process).
"""
import os.path as osp
import random
import signal
import subprocess
import sys

import pytest
import torch

from tiny_configs import stock_tiny_config

_KILLER = r'''
import os, signal, sys, runpy
mode, at = sys.argv[1], int(sys.argv[2])
sys.argv = sys.argv[3:]
import sadinet_mmpose
from mmengine.runner import loops
from sadinet_mmpose.engine import atomic_backend

if mode == 'iter':
    counter = {'n': 0}
    original = loops.EpochBasedTrainLoop.run_iter
    def run_iter(self, idx, data_batch):
        counter['n'] += 1
        if counter['n'] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, idx, data_batch)
    loops.EpochBasedTrainLoop.run_iter = run_iter
elif mode == 'save':
    saves = {'n': 0}
    def put(self, obj, filepath):
        saves['n'] += 1
        if saves['n'] == at:
            # die half-way through the temporary file of an atomic write
            import tempfile
            fd, tmp = tempfile.mkstemp(
                prefix=atomic_backend.PARTIAL_PREFIX,
                dir=os.path.dirname(filepath))
            os.write(fd, obj[: len(obj) // 2]); os.fsync(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_backend.atomic_write_bytes(obj, filepath)
    atomic_backend.AtomicLocalBackend.put = put
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _train_tool():
    import mmpose
    return osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')


def _train(cfg, work, resume, kill=None):
    args = [_train_tool(), str(cfg), '--work-dir', str(work)]
    if resume:
        args.append('--resume')
    if kill is None:
        cmd = [sys.executable] + args
    else:
        cmd = [sys.executable, '-c', _KILLER, kill[0], str(kill[1])] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _weights(path):
    # the plugin allow-lists mmengine's checkpoint types
    import sadinet_mmpose  # noqa: F401
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_uninterrupted(
        tmp_path, mpii_sample_dir):
    epochs = 4  # 5 images, batch 2, drop_last: 2 iterations an epoch, 8 in all
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(stock_tiny_config(mpii_sample_dir, max_epochs=epochs))

    ref = _train(cfg, tmp_path / 'ref', resume=False)
    assert ref.returncode == 0, ref.stderr[-4000:]

    rng = random.Random(2026)
    # kills: half-way through the 2nd checkpoint write, then at two random
    # iterations of later (resumed) runs, then one truncated file as a
    # non-atomic writer would leave it.
    kills = [('save', 2), ('iter', rng.randint(1, 3)),
             ('iter', rng.randint(2, 4))]
    work = tmp_path / 'killed'
    for i, kill in enumerate(kills):
        proc = _train(cfg, work, resume=i > 0, kill=kill)
        assert proc.returncode == -signal.SIGKILL, (
            f'kill {kill} did not happen: '
            f'rc={proc.returncode}\n{proc.stderr[-3000:]}')
        if i == 0:  # killed half-way through writing epoch_2.pth
            assert list(
                work.glob('.partial-*')), 'the killed save leaves a temp file'
            assert not (work / 'epoch_2.pth').exists(), \
                ('a killed write must not leave a file under the checkpoint '
                 'name')
            assert (work / 'epoch_1.pth').exists()

    # a truncated checkpoint named by last_checkpoint (what a killed
    # non-atomic writer leaves) must be skipped, not loaded
    ckpts = sorted(work.glob('epoch_*.pth'))
    assert ckpts, 'some epoch must have been saved by now'
    newest = max(ckpts, key=lambda p: int(p.stem.split('_')[1]))
    fake = work / f'epoch_{int(newest.stem.split("_")[1]) + 1}.pth'
    fake.write_bytes(newest.read_bytes()[:1000])
    (work / 'last_checkpoint').write_text(str(fake))

    final = _train(cfg, work, resume=True)
    assert final.returncode == 0, final.stderr[-4000:]
    log = final.stdout + final.stderr
    assert 'missing or incomplete' in log and fake.name in log, log[-3000:]
    assert 'unfinished checkpoint write' in log, log[-3000:]

    got = _weights(work / f'epoch_{epochs}.pth')
    want = _weights(tmp_path / 'ref' / f'epoch_{epochs}.pth')
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), (
            f'{key}: resumed run differs from the uninterrupted one by '
            f'{(got[key].float() - want[key].float()).abs().max().item()}')
