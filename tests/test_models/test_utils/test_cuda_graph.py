"""CUDAGraphCache and the estimator's ``cuda_graph`` option.

The graph replay itself needs a CUDA device: those tests are marked ``gpu``
and skipped elsewhere (run them on the lent GPU with ``-m gpu``). On the CPU
the option must change nothing.
"""
import copy
import pickle

import pytest
import torch
import torch.nn as nn

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.models.utils import CUDAGraphCache

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='needs a CUDA device')


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.bn(self.conv(x)).relu()
        return (y, dict(pooled=[y.mean((2, 3))]))


def _cache(net, **kwargs):
    return CUDAGraphCache(net, module=net, **kwargs)


def test_cpu_calls_run_eagerly_and_options_are_checked():
    net = _Net().eval()
    cache = _cache(net)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = cache(x)
        ref = net(x)
    assert torch.equal(out[0], ref[0])
    assert len(cache) == 0 and cache.num_captures == 0
    with pytest.raises(ValueError, match='max_graphs'):
        CUDAGraphCache(net, max_graphs=0)
    with pytest.raises(ValueError, match='warmup'):
        CUDAGraphCache(net, warmup=0)


def test_weights_key_follows_storage_not_values():
    net = _Net()
    cache = _cache(net)
    key = cache._weights_key()
    with torch.no_grad():
        net.conv.weight.mul_(2)  # an optimizer step: same storage
    assert cache._weights_key() == key
    net.double()  # a cast or a move: new storage, so a new capture
    assert cache._weights_key() != key
    assert len(cache._weights_key()) == len(list(net.parameters())) + len(
        list(net.buffers()))


def test_deepcopy_and_pickle_drop_graphs_and_rebind():
    net = _Net()
    cache = _cache(net)
    cache._graphs['fake'] = object()
    twin_net, twin = copy.deepcopy((net, cache))
    assert len(twin) == 0 and twin.module is twin_net and twin.fn is twin_net
    assert len(pickle.loads(pickle.dumps(cache))) == 0


def _tiny_estimator(**kwargs):
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    from tiny_configs import SADINET_CODEC, SADINET_MODEL
    init_default_scope('mmpose')
    cfg = eval(SADINET_MODEL, dict(codec=eval(SADINET_CODEC)))
    return MODELS.build(dict(cfg, **kwargs))


def test_estimator_option_on_cpu_changes_nothing():
    torch.manual_seed(0)
    plain = _tiny_estimator().eval()
    graphed = _tiny_estimator(cuda_graph=dict(max_graphs=2)).eval()
    graphed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = plain.extract_feat(x), graphed.extract_feat(x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert graphed.cuda_graphs.max_graphs == 2 and plain.cuda_graphs is None
    copy.deepcopy(graphed)  # EMA hooks deep-copy the model
    graphed.set_cuda_graph(False)
    assert graphed.cuda_graphs is None


def test_estimator_option_errors_name_the_field():
    with pytest.raises(ValueError, match=r"model.cuda_graph: unknown .*'x'"):
        _tiny_estimator(cuda_graph=dict(x=1))
    with pytest.raises(TypeError, match='model.cuda_graph'):
        _tiny_estimator(cuda_graph='yes')


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize('amp', [None, torch.bfloat16])
def test_replay_equals_eager_on_gpu(amp):
    torch.manual_seed(0)
    net = _Net().cuda().eval()
    cache = _cache(net, max_graphs=2)
    ctx = (torch.autocast('cuda', dtype=amp) if amp else torch.no_grad())
    for shape in [(1, 3, 16, 16), (4, 3, 16, 16), (1, 3, 16, 16)]:
        x = torch.randn(*shape, device='cuda')
        with torch.inference_mode(), ctx:
            got = cache(x)
            ref = net(x)
        assert torch.equal(got[0], ref[0]), shape
        assert torch.equal(got[1]['pooled'][0], ref[1]['pooled'][0])
    assert cache.num_captures == 2 and cache.num_replays == 3
    # outputs are clones: a later replay does not change an earlier result
    x1 = torch.randn(1, 3, 16, 16, device='cuda')
    with torch.inference_mode():
        first = cache(x1)[0]
        keep = first.clone()
        cache(torch.randn(1, 3, 16, 16, device='cuda'))
    assert torch.equal(first, keep)
    # in-place weight updates are seen by the captured graph
    with torch.no_grad():
        net.conv.weight.mul_(2)
    with torch.inference_mode():
        assert torch.equal(cache(x1)[0], net(x1)[0])
    # training mode or autograd on: eager
    net.train()
    cache(torch.randn(2, 3, 16, 16, device='cuda'))
    assert cache.num_captures == 2


@pytest.mark.gpu
@needs_cuda
def test_estimator_predictions_equal_with_graphs_on_gpu():
    torch.manual_seed(0)
    plain = _tiny_estimator().cuda().eval()
    graphed = _tiny_estimator(cuda_graph=True).cuda().eval()
    graphed.load_state_dict(plain.state_dict())
    x = torch.randn(3, 3, 64, 64, device='cuda')
    with torch.inference_mode():
        a, b = plain.extract_feat(x), graphed.extract_feat(x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert graphed.cuda_graphs.num_replays == 1
