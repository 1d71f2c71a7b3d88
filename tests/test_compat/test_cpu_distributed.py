"""Distributed training without CUDA: mmengine's launcher and DDP wrapper are
adapted on a CPU-only machine and left alone where CUDA exists."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config  # noqa: E402
from mmengine.dist import utils as dist_utils  # noqa: E402
from mmengine.model import MMDistributedDataParallel  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from sadinet_mmpose.compat.cpu_distributed import (  # noqa: E402
    allow_cpu_distributed, cpu_model_wrapper_cfg)

import sadinet_mmpose  # noqa: F401  isort: skip

needs_no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(),
    reason='the CPU adaptation applies without CUDA')


def test_default_wrapper_gets_no_device_ids():
    cfg = Config(dict(find_unused_parameters=True))
    assert cpu_model_wrapper_cfg(None, cfg) == dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=True,
        device_ids=None)
    assert cpu_model_wrapper_cfg(None,
                                 Config())['find_unused_parameters'] is False


def test_configured_wrapper_keeps_its_settings():
    given = dict(type='MMDistributedDataParallel', broadcast_buffers=True)
    out = cpu_model_wrapper_cfg(given, Config())
    assert out == dict(given, device_ids=None)
    assert 'device_ids' not in given, 'the config itself was modified'
    assert cpu_model_wrapper_cfg(dict(device_ids=[3]), Config()) == \
        dict(device_ids=[3]), "an explicit device_ids was overridden"
    fsdp = dict(type='MMFullyShardedDataParallel')  # not a DDP: untouched
    assert cpu_model_wrapper_cfg(fsdp, Config()) == fsdp


@pytest.fixture
def process_group(tmp_path):
    """A one-process gloo group (what each rank of torchrun has)."""
    torch_dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/pg', world_size=1, rank=0)
    yield
    torch_dist.destroy_process_group()


def _runner_like():
    return SimpleNamespace(
        distributed=True,
        cfg=Config(),
        logger=logging.getLogger('test_cpu_distributed'))


@needs_no_cuda
def test_runner_wraps_cpu_model_in_ddp(process_group, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match='device_ids'):
        # mmengine's own wrap_model: device_ids=[LOCAL_RANK] for a CPU model
        Runner.wrap_model.__wrapped__(_runner_like(), None, model)
    for wrapper_cfg in (
            None,
            Config(
                dict(model_wrapper_cfg=dict(
                    type='MMDistributedDataParallel'))).model_wrapper_cfg):
        wrapped = Runner.wrap_model(_runner_like(), wrapper_cfg,
                                    torch.nn.Linear(3, 2))
        assert isinstance(wrapped, MMDistributedDataParallel)
        assert wrapped.device_ids is None
        assert wrapped(torch.ones(4, 3)).shape == (4, 2)  # DDP forward


@needs_no_cuda
def test_patched_on_cpu_only(monkeypatch):
    launcher = dist_utils._init_dist_pytorch
    assert getattr(launcher, 'sadinet_cpu', False) and \
        getattr(Runner.wrap_model, 'sadinet_cpu', False), \
        'import sadinet_mmpose did not adapt mmengine on a CPU-only machine'
    # start from mmengine's own functions
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', launcher.__wrapped__)
    monkeypatch.setattr(Runner, 'wrap_model', Runner.wrap_model.__wrapped__)
    originals = (dist_utils._init_dist_pytorch, Runner.wrap_model)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert allow_cpu_distributed() is False
    assert (dist_utils._init_dist_pytorch, Runner.wrap_model) == originals, \
        'with CUDA, mmengine must be left unchanged'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert allow_cpu_distributed() is True
    assert dist_utils._init_dist_pytorch.__wrapped__ is originals[0]
    assert Runner.wrap_model.__wrapped__ is originals[1]
    allow_cpu_distributed()  # a second call does not wrap twice
    assert Runner.wrap_model.__wrapped__ is originals[1]


@pytest.mark.gpu
def test_nothing_patched_where_cuda_exists():
    """On a CUDA machine mmengine's launcher and wrapper are its own."""
    assert not getattr(dist_utils._init_dist_pytorch, 'sadinet_cpu', False)
    assert not getattr(Runner.wrap_model, 'sadinet_cpu', False)
