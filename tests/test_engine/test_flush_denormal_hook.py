"""FlushDenormalHook: flushes on the CPU, a logged no-op elsewhere."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

import sadinet_mmpose  # noqa: F401  (registers the hook)
from sadinet_mmpose.engine.hooks import denormal

DENORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


@pytest.fixture
def calls(monkeypatch):
    """Record set_flush_denormal calls and log lines; flag off afterwards."""
    seen = dict(flags=[], logs=[])
    real = torch.set_flush_denormal

    def record(mode):
        seen['flags'].append(mode)
        return real(mode)

    monkeypatch.setattr(denormal.torch, 'set_flush_denormal', record)
    monkeypatch.setattr(denormal, 'print_log',
                        lambda msg, **kwargs: seen['logs'].append(msg))
    yield seen
    real(False)


def build_hook():
    from mmpose.registry import HOOKS
    return HOOKS.build(dict(type='FlushDenormalHook'))


def test_cpu_model_flushes_denormals(calls):
    hook = build_hook()
    hook.before_run(SimpleNamespace(model=nn.Linear(2, 2)))
    assert calls['flags'] == [True], 'set_flush_denormal(True) on the CPU'
    assert len(calls['logs']) == 1
    if 'cannot flush' not in calls['logs'][0]:
        tiny = torch.tensor([DENORMAL], dtype=torch.float32)
        assert (tiny * 1.0).item() == 0.0, 'denormal not flushed to zero'


@pytest.mark.parametrize('wrapped', [False, True])
def test_model_on_another_device_is_a_logged_no_op(calls, wrapped):
    """Parameters on the meta device stand in for CUDA; a DDP-style wrapper
    (``.module``) is looked through."""
    model = nn.Linear(2, 2, device='meta')
    runner = SimpleNamespace(
        model=SimpleNamespace(module=model) if wrapped else model)
    build_hook().before_run(runner)
    assert calls['flags'] == [], 'the flag must not be touched'
    assert len(calls['logs']) == 1 and 'nothing changed' in calls['logs'][0]
    assert 'meta' in calls['logs'][0], calls['logs'][0]
    tiny = torch.tensor([DENORMAL], dtype=torch.float32)
    assert (tiny * 1.0).item() != 0.0, 'denormals flushed although no-op'


@pytest.mark.gpu
def test_real_cuda_model_is_left_alone(calls):
    build_hook().before_run(SimpleNamespace(model=nn.Linear(2, 2).cuda()))
    assert calls['flags'] == [] and 'cuda' in calls['logs'][0]
