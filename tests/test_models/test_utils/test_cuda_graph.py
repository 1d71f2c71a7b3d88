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


def test_train_option_needs_module_and_runs_eagerly_on_cpu():
    with pytest.raises(ValueError, match='train=True needs the module'):
        CUDAGraphCache(lambda x: x, train=True)
    net = _Net().train()
    cache = _cache(net, train=True)
    x = torch.randn(2, 3, 8, 8)
    assert not cache.applicable_train(x)  # CPU
    out = cache(x)
    out[0].sum().backward()
    assert net.conv.weight.grad is not None
    assert cache.num_captures == 0
    assert copy.deepcopy(cache).train


class _ReplayOnCPU:
    """Stands for a captured graph: replay() runs the recorded work."""

    def __init__(self, work):
        self.work = work

    def replay(self):
        self.work()


def test_training_node_plumbing_with_emulated_graphs(monkeypatch):
    """The autograd node around the graphs, with 'graphs' that recompute on
    the CPU: outputs rebuilt in their nesting, gradients reach only the
    parameters fn reads (here not ``unused``), they are clones (a second
    backward accumulates), and outputs survive the next replay."""
    from sadinet_mmpose.models.utils.cuda_graph import _TrainGraphs

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _Net()
            self.unused = nn.Linear(2, 2)  # e.g. the head's weights

    holder = Holder().train()
    net = holder.net
    cache = CUDAGraphCache(net, module=holder, train=True)
    params = cache._trainable()
    used = [i for i, p in enumerate(params)
            if not any(p is q for q in holder.unused.parameters())]
    static_in = torch.zeros(2, 3, 8, 8)
    with torch.no_grad():
        leaves, spec = torch.utils._pytree.tree_flatten(net(static_in))
    static_grad_out = [torch.zeros_like(o) for o in leaves]
    static_grads = [torch.zeros_like(params[i]) for i in used]

    def fwd():
        with torch.no_grad():
            for dst, src in zip(leaves, torch.utils._pytree.tree_leaves(
                    net(static_in))):
                dst.copy_(src)

    def bwd():  # a node's backward runs without grad mode: re-enable it
        with torch.enable_grad():
            outs = torch.utils._pytree.tree_leaves(net(static_in))
            grads = torch.autograd.grad(outs, [params[i] for i in used],
                                        static_grad_out)
        for dst, src in zip(static_grads, grads):
            dst.copy_(src)

    entry = _TrainGraphs(static_in, _ReplayOnCPU(fwd), _ReplayOnCPU(bwd),
                         leaves, spec, [True] * len(leaves), static_grad_out,
                         static_grads, used)
    monkeypatch.setattr(cache, 'applicable_train', lambda x: True)
    monkeypatch.setattr(cache, '_capture_train', lambda x: entry)

    ref_net = copy.deepcopy(net)
    x1, x2 = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    out = cache(x1)
    assert isinstance(out, tuple) and isinstance(out[1]['pooled'], list)
    ref = ref_net(x1)
    torch.testing.assert_close(out[0], ref[0])
    kept = out[0].detach().clone()
    loss = out[0].square().mean() + out[1]['pooled'][0].sum()
    loss.backward()
    (ref[0].square().mean() + ref[1]['pooled'][0].sum()).backward()
    out2 = cache(x2)  # replays again: the first outputs are clones
    assert torch.equal(out[0].detach(), kept)
    out2[0].square().mean().backward()  # accumulates onto the first
    ref_net(x2)[0].square().mean().backward()
    for p, q in zip(net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
    assert holder.unused.weight.grad is None
    assert cache.num_replays == 2 and len(cache) == 1

    # a second forward before the first's backward runs eagerly (the first
    # one's saved activations stay intact); once the pending outputs are
    # dropped without a backward, replays resume
    net.zero_grad()
    ref_net.zero_grad()
    a = cache(x1)
    b = cache(x2)
    assert cache.num_replays == 3, 'b ran eagerly'
    (a[0].sum() + b[0].square().sum()).backward()
    (ref_net(x1)[0].sum() + ref_net(x2)[0].square().sum()).backward()
    for p, q in zip(net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
    c = cache(x1)
    del c
    cache(x2)
    assert cache.num_replays == 5


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


def test_estimator_train_option_on_cpu_trains_as_eager():
    torch.manual_seed(0)
    graphed = _tiny_estimator(cuda_graph=dict(train=True)).train()
    assert graphed.cuda_graphs.train
    x = torch.randn(2, 3, 64, 64)
    feats = graphed.extract_feat(x)
    sum(f.float().mean() for f in feats).backward()
    assert graphed.backbone.parameters().__next__().grad is not None
    assert graphed.cuda_graphs.num_captures == 0


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


def _train_steps(net, cache, shapes, amp, seed=0):
    """SGD steps through ``cache`` (or the net when None); losses, params,
    buffers."""
    gen = torch.Generator(device='cuda').manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for shape in shapes:
        x = torch.randn(*shape, device='cuda', generator=gen)
        with torch.autocast('cuda', dtype=amp or torch.float32,
                            enabled=amp is not None):
            y, extra = (cache or net)(x)
            loss = (y.float() * torch.linspace(
                -1, 1, y.shape[1], device='cuda').view(1, -1, 1, 1)).mean() \
                + extra['pooled'][0].float().square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return (losses, [p.detach().clone() for p in net.parameters()],
            [b.detach().clone() for b in net.buffers()])


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize('amp', [None, torch.bfloat16])
def test_training_replay_equals_eager_on_gpu(amp):
    """Forward + backward from graphs: the same losses, updates and batch-norm
    statistics as eager training (the warm-up's updates undone); another
    batch shape runs eagerly."""
    torch.manual_seed(0)
    eager_net = _Net().cuda().train()
    graph_net = copy.deepcopy(eager_net)
    cache = _cache(graph_net, train=True, max_graphs=1)
    shapes = [(4, 3, 16, 16)] * 3 + [(2, 3, 16, 16), (4, 3, 16, 16)]
    ref = _train_steps(eager_net, None, shapes, amp)
    got = _train_steps(graph_net, cache, shapes, amp)
    tol = dict(rtol=1e-2, atol=1e-3) if amp else dict(rtol=1e-4, atol=1e-5)
    for a, b in zip(got[0], ref[0]):
        assert a == pytest.approx(b, **tol)
    for a, b in zip(got[1] + got[2], ref[1] + ref[2]):
        torch.testing.assert_close(a, b, **tol)
    assert cache.num_captures == 1 and cache.num_replays == 4
    assert cache.disabled_reason is None


@pytest.mark.gpu
@needs_cuda
def test_training_graph_gradients_accumulate_and_outlive_replays():
    torch.manual_seed(0)
    net = _Net().cuda().train()
    cache = _cache(net, train=True)
    xs = [torch.randn(4, 3, 16, 16, device='cuda') for _ in range(2)]
    for x in xs:  # two backwards, no zero_grad: gradients add up
        cache(x)[0].square().mean().backward()
    got = net.conv.weight.grad.clone()
    net.conv.weight.grad = None
    # eager reference with the same statistics
    ref_net = copy.deepcopy(net)
    ref_net.load_state_dict(net.state_dict())
    for x in xs:
        ref_net(x)[0].square().mean().backward()
    torch.testing.assert_close(got, ref_net.conv.weight.grad, rtol=1e-4,
                               atol=1e-5)
    out = cache(xs[0])[0]
    keep = out.detach().clone()
    cache(xs[1])
    assert torch.equal(out.detach(), keep), 'outputs are clones'


@pytest.mark.gpu
@needs_cuda
def test_estimator_trains_with_graphs_like_eager_on_gpu():
    torch.manual_seed(0)
    plain = _tiny_estimator().cuda().train()
    graphed = _tiny_estimator(cuda_graph=dict(train=True)).cuda().train()
    graphed.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 64, 64, device='cuda')
    feats = []
    for model in (plain, graphed):
        out = model.extract_feat(x)
        sum((f.float() * torch.randn_like(f.float(), generator=torch.Generator(
            device='cuda').manual_seed(1))).sum() for f in out).backward()
        feats.append(out)
    for a, b in zip(*feats):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for (name, p), q in zip(plain.named_parameters(), graphed.parameters()):
        if p.grad is None:
            assert q.grad is None, name
        else:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5,
                                       msg=name)
    assert graphed.cuda_graphs.num_replays == 1
