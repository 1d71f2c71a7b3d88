"""The multi-GPU path (torchrun + ``--launcher pytorch``) on 2 CPU processes.

MMPose's stock ``tools/train.py`` runs under ``torchrun --nproc_per_node=2``
and MMPose's ``tools/dist_train.sh CONFIG 2`` with no extra options (the
package lets mmengine's ``pytorch`` launcher start without CUDA on the gloo
backend, and its DDP wrapper take the CPU model). DDP runs
without ``find_unused_parameters``: a model with a parameter that takes no
part in the loss fails at the second iteration, so two iterations per run
check that SADI-Net has none.

SyncBN: torch refuses SyncBatchNorm on the CPU under DDP
(``DistributedDataParallel``
raises ``SyncBatchNorm layers only work with GPU modules`` when it wraps the
model; ``SyncBatchNorm.forward`` also rejects CPU tensors once a process
group exists), so on the CPU only the config side is tested
(``norm_cfg=dict(type='SyncBN')`` and
mmengine's ``sync_bn='torch'`` conversion) plus the exact refusal under
torchrun; see docs/mixing.md.
"""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from tiny_configs import sadinet_tiny_config, stock_tiny_config

# Runs MMPose's stock tools/train.py, then saves this rank's weights so the
# test can compare the two ranks.
_WRAPPER = r'''
import os, runpy, sys
import torch
import sadinet_mmpose  # noqa: F401
from mmengine.runner import Runner
_train = Runner.train
def train(self):
    model = _train(self)
    module = self.model.module if hasattr(self.model, 'module') else self.model
    rank = int(os.environ.get('RANK', 0))
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()},
               os.path.join(self.work_dir, f'rank{rank}_weights.pth'))
    return model
Runner.train = train
tool = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(tool, run_name='__main__')
'''

# BN running statistics differ between ranks after an iteration (each rank
# normalises its own batch; DDP re-broadcasts rank 0's buffers only at the
# next forward). mmengine's SyncBuffersHook averages them after each epoch,
# as the project's real configs do.
_SYNC_BUFFERS = (
    "\ncustom_hooks = [dict(type='SyncBuffersHook'), "
    "dict(type='CheckpointGuardHook'), dict(type='RNGStateHook')]\n")


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_torchrun(tmp_path, cfg_text, extra_opts=(), expect_ok=True):
    """Train ``cfg_text`` with stock tools/train.py on 2 CPU processes.

    Args:
        tmp_path (Path): Folder for the config, wrapper and work dir.
        cfg_text (str): The config.
        extra_opts (Sequence[str]): More ``--cfg-options`` entries.
        expect_ok (bool): Assert that the run succeeds. Defaults to True.

    Returns:
        tuple: (work dir, return code, stdout + stderr).
    """
    import mmpose
    tool = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(cfg_text)
    wrapper = tmp_path / 'wrapper.py'
    wrapper.write_text(_WRAPPER)
    work = tmp_path / 'work'
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_addr=127.0.0.1', f'--master_port={_free_port()}',
        str(wrapper), tool,
        str(cfg), '--work-dir',
        str(work), '--launcher', 'pytorch'
    ]
    if extra_opts:
        cmd += ['--cfg-options', *extra_opts]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, env=env)
    log = proc.stdout + proc.stderr
    if expect_ok:
        assert proc.returncode == 0, (
            'torchrun with 2 CPU processes failed:\n' + proc.stdout[-3000:] +
            proc.stderr[-6000:])
    return work, proc.returncode, log


def assert_ranks_equal(work):
    """Both ranks saved the same parameters and buffers."""
    w0 = torch.load(work / 'rank0_weights.pth')
    w1 = torch.load(work / 'rank1_weights.pth')
    assert w0.keys() == w1.keys(), 'the two ranks hold different state keys'
    differ = [k for k in w0 if not torch.equal(w0[k], w1[k])]
    assert not differ, (f'{len(differ)} tensors differ between ranks: '
                        f'{differ[:5]}')


def _train_iters(log):
    return [line for line in log.splitlines() if 'Epoch(train)' in line]


@pytest.mark.slow
def test_dist_train_sh_two_cpu_processes_without_options(
        tmp_path, mpii_sample_dir):
    """``bash tools/dist_train.sh CONFIG 2`` as a user types it, on a machine
    without CUDA: no ``--cfg-options``, the DDP wrapper takes the CPU model."""
    import mmpose
    script = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'tools', 'dist_train.sh')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(sadinet_tiny_config(mpii_sample_dir, max_epochs=2))
    work = tmp_path / 'work'
    # dist_train.sh runs `python`: the environment's, as after activating it
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PORT=str(_free_port()),
        PATH=osp.dirname(sys.executable) + os.pathsep +
        os.environ.get('PATH', ''))
    proc = subprocess.run([
        'bash', script, str(cfg), '2', '--work-dir',
        str(work)
    ],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True,
                          timeout=900,
                          env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, \
        'dist_train.sh CONFIG 2 failed on the CPU:\n' + log[-6000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log, \
        'dist_train.sh did not run 2 distributed processes'
    assert 'device_ids=None' in log, ('the DDP wrapper was not given '
                                      'device_ids=None')
    assert len(
        _train_iters(log)) >= 2, 'dist_train.sh: fewer than 2 iterations ran'
    assert (work /
            'epoch_2.pth').is_file(), 'dist_train.sh: no checkpoint saved'


@pytest.mark.slow
def test_two_cpu_processes_stock_model(tmp_path, mpii_sample_dir):
    work, _, log = run_torchrun(
        tmp_path,
        stock_tiny_config(mpii_sample_dir, max_epochs=2) + _SYNC_BUFFERS)
    assert len(
        _train_iters(log)) >= 2, 'stock model: fewer than 2 iterations ran'
    assert_ranks_equal(work)
    assert (work / 'epoch_2.pth').is_file(), 'stock model: no checkpoint saved'


@pytest.mark.slow
def test_two_cpu_processes_sadinet_without_find_unused_parameters(
        tmp_path, mpii_sample_dir):
    """Tiny SADI-Net (RFM + SFM + DLM) under DDP, every parameter used."""
    work, _, log = run_torchrun(
        tmp_path,
        sadinet_tiny_config(mpii_sample_dir, max_epochs=2) + _SYNC_BUFFERS)
    dumped = (work / 'cfg.py').read_text()  # the config as the runner saw it
    assert 'find_unused_parameters=True' not in dumped, \
        'the SADI-Net run enabled find_unused_parameters'
    assert 'Distributed training: True' in log, \
        'the SADI-Net run was not distributed'
    assert len(_train_iters(log)) >= 2, \
        'SADI-Net: DDP needs 2 iterations to detect unused parameters'
    assert_ranks_equal(work)
    assert (work / 'epoch_2.pth').is_file(), 'SADI-Net: no checkpoint saved'


def _sync_bn_tiny_cfg(tmp_path, data_root):
    from mmengine.config import Config
    path = tmp_path / 'syncbn_cfg.py'
    path.write_text(sadinet_tiny_config(data_root, max_epochs=1))
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.norm_cfg = dict(type='SyncBN')
    cfg.model.neck.norm_cfg = dict(type='SyncBN')
    return cfg


def test_syncbn_config_builds_and_trains_single_process(
        tmp_path, mpii_sample_dir):
    """``norm_cfg=dict(type='SyncBN')`` in backbone/neck and
    ``sync_bn='torch'``.

    Without a process group torch's SyncBatchNorm falls back to plain BN, so
    the converted model trains in one process; mmengine's conversion (what
    ``sync_bn='torch'`` does in ``Runner.wrap_model``) turns the head's BN
    layers too.
    """
    from mmengine.model.utils import convert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    from helpers import make_batch, train_step
    init_default_scope('mmpose')
    cfg = _sync_bn_tiny_cfg(tmp_path, mpii_sample_dir)
    model = MODELS.build(cfg.model)
    for part in ('backbone', 'neck'):
        bns = [
            m for m in getattr(model, part).modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        ]
        assert bns and all(
            isinstance(m, torch.nn.SyncBatchNorm) for m in bns), \
            (f"norm_cfg=dict(type='SyncBN') did not reach every BN of the "
             f"{part}")
    model = convert_sync_batchnorm(model, 'torch')
    left = [
        n for n, m in model.named_modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        and not isinstance(m, torch.nn.SyncBatchNorm)
    ]
    assert not left, f"sync_bn='torch' left plain BN layers: {left[:5]}"
    inputs, samples = make_batch(cfg.model.head.decoder, 2, 16)
    losses = train_step(model, inputs, samples)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), \
        f'SyncBN model (single process): non-finite losses {losses}'


@pytest.mark.slow
def test_syncbn_two_cpu_processes_refused_by_torch(tmp_path, mpii_sample_dir):
    """torch's SyncBatchNorm needs GPU tensors: on 2 CPU ranks it stops.

    This records the limit precisely (docs/mixing.md): if a torch release
    accepts CPU tensors, this test fails and the docs should be updated.
    """
    text = sadinet_tiny_config(mpii_sample_dir, max_epochs=1) + \
        "\nsync_bn = 'torch'\n"
    _, rc, log = run_torchrun(tmp_path, text, expect_ok=False)
    if rc == 0:
        pytest.fail("SyncBN (sync_bn='torch') trained on 2 CPU processes: "
                    'torch now supports it; update docs/mixing.md')
    # DDP refuses first, when it wraps a CPU model holding SyncBatchNorm
    # layers; SyncBatchNorm.forward would refuse CPU tensors next.
    assert 'SyncBatchNorm layers only work with GPU modules' in log, \
        'SyncBN on 2 CPU ranks failed for another reason:\n' + log[-4000:]
