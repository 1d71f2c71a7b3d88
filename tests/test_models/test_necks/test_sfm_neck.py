"""Tests of the SFM neck and its attention parts."""
# isort: off
import sadinet_mmpose  # noqa: F401  (first: mmcv-lite placeholders)
# isort: on
import pytest
import torch
from mmpose.registry import MODELS

from sadinet_mmpose.models.necks import SFMLocalAttention

B = 2
# A 64x64 crop: F1..F4 at strides 4..32, tiny channel counts.
SMALL = dict(
    in_channels=(8, 16, 24, 32),
    global_channels=16,
    cls_channels=(16, 32, 64, 128),
    out_channels=64)


def _pyramid(channels, size=16, batch=B):
    return [
        torch.rand(batch, c, size // 2**n, size // 2**n)
        for n, c in enumerate(channels)
    ]


def _build(**kwargs):
    return MODELS.build(dict(type='SFMNeck', **{**SMALL, **kwargs}))


@pytest.mark.parametrize('num_stacks', [1, 2])
def test_rfm_like_inputs(num_stacks):
    """Input (F1..F4, S_1..S_N): output (S_1..S_N, f), the S untouched."""
    case = f'num_stacks={num_stacks}'
    neck = _build()
    stacks = [torch.rand(B, 16, 16, 16) for _ in range(num_stacks)]
    out = neck(tuple(_pyramid(SMALL['in_channels']) + stacks))
    assert len(out) == num_stacks + 1, case
    assert all(o is s for o, s in zip(out, stacks)), f'{case}: passthrough'
    assert out[-1].shape == (B, SMALL['out_channels']), f'{case}: f shape'
    assert torch.isfinite(out[-1]).all(), f'{case}: finite'
    assert neck.out_channels == SMALL['out_channels'], 'out_channels attr'
    assert neck.in_channels == SMALL['in_channels'], 'in_channels attr'


def test_default_channels_on_hrnet_like_inputs():
    """HRNet-w32's four branches (64x64 crop), keep_indices=(0,)."""
    neck = MODELS.build(
        dict(
            type='SFMNeck', in_channels=(32, 64, 128, 256),
            keep_indices=(0, ))).eval()
    feats = _pyramid((32, 64, 128, 256), batch=1)
    with torch.no_grad():
        out = neck(feats)
    assert len(out) == 2 and out[0] is feats[0], 'HRNet: kept branch 0'
    assert out[1].shape == (1, 2048), 'HRNet: f is (B, 2048)'


def test_on_a_real_hrnet():
    hrnet = MODELS.build(
        dict(
            type='HRNet',
            extra=dict(
                stage1=dict(
                    num_modules=1,
                    num_branches=1,
                    block='BOTTLENECK',
                    num_blocks=(1, ),
                    num_channels=(8, )),
                stage2=dict(
                    num_modules=1,
                    num_branches=2,
                    block='BASIC',
                    num_blocks=(1, 1),
                    num_channels=(8, 16)),
                stage3=dict(
                    num_modules=1,
                    num_branches=3,
                    block='BASIC',
                    num_blocks=(1, 1, 1),
                    num_channels=(8, 16, 32)),
                stage4=dict(
                    num_modules=1,
                    num_branches=4,
                    block='BASIC',
                    num_blocks=(1, 1, 1, 1),
                    num_channels=(8, 16, 32, 64),
                    multiscale_output=True))))
    neck = _build(in_channels=(8, 16, 32, 64), keep_indices=(0, ))
    out = neck(hrnet(torch.rand(B, 3, 64, 64)))
    assert [tuple(o.shape) for o in out] == [(B, 8, 16, 16), (B, 64)], \
        'HRNet (tiny) -> SFMNeck'


def test_global_attention_weights_sum_to_one():
    neck = _build()
    feats = _pyramid(SMALL['in_channels'])
    fused, weights = neck.global_attention(feats)
    assert weights.shape == (B, 4, 16, 16), 'W is (B, L, H_1, W_1)'
    assert torch.allclose(weights.sum(1), torch.ones(B, 16, 16)), \
        'sum over scales is 1'
    assert [f.shape for f in fused] == [f.shape for f in feats], \
        'fused maps keep F_n shapes'


def test_residual_option():
    torch.manual_seed(0)
    with_res = _build(residual=True).eval()
    without = _build(residual=False).eval()
    without.load_state_dict(with_res.state_dict())
    feats = _pyramid(SMALL['in_channels'])
    with torch.no_grad():
        a, _ = with_res.global_attention(feats)
        b, _ = without.global_attention(feats)
    assert all(
        torch.allclose(x - y, f, atol=1e-6)
        for x, y, f in zip(a, b, feats)), 'residual adds F_n'


@pytest.mark.parametrize('dim,axis', [('height', 2), ('width', 3)])
def test_local_softmax_dim(dim, axis):
    attention = SFMLocalAttention(dim)
    x = torch.randn(B, 3, 4, 5)
    weights = attention.weights(x)
    assert torch.allclose(weights.sum(axis), torch.ones(1)), \
        f'{dim}: softmax over axis {axis}'
    assert torch.allclose(attention(x), x * weights), f'{dim}: x * weights'


def test_local_softmax_dim_changes_the_neck_output():
    torch.manual_seed(0)
    outs = {}
    ref = None
    for dim in ('height', 'width', None):
        neck = _build(local_softmax_dim=dim).eval()
        if ref is None:
            ref = neck.state_dict()
        neck.load_state_dict(ref)
        with torch.no_grad():
            outs[dim] = neck(_pyramid(SMALL['in_channels']))[-1]
        torch.manual_seed(0)
    assert not torch.allclose(outs['height'], outs['width']), 'height!=width'
    assert not torch.allclose(outs['height'], outs[None]), 'attention on/off'
    with pytest.raises(ValueError, match='diagonal'):
        _build(local_softmax_dim='diagonal')


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    neck = _build()
    out = neck(_pyramid(SMALL['in_channels']))
    (out[-1] * torch.randn_like(out[-1])).sum().backward()
    missing = [n for n, p in neck.named_parameters() if p.grad is None]
    assert not missing, f'unused parameters {missing[:5]}'
    zero = [n for n, p in neck.named_parameters() if not p.grad.any()]
    assert not zero, f'zero gradients {zero[:5]}'


def test_arbitrary_resolution():
    neck = _build().eval()
    feats = [
        torch.rand(1, c, 24 // 2**n, 40 // 2**n)
        for n, c in enumerate(SMALL['in_channels'])
    ]
    with torch.no_grad():
        out = neck(feats)
    assert out[-1].shape == (1, SMALL['out_channels']), '96x160 crop'


def test_channel_mismatch_is_a_readable_error():
    neck = _build()
    feats = _pyramid((8, 16, 20, 32))
    with pytest.raises(ValueError, match=r'in_channels\[2\]=24.*20 channels'):
        neck(feats)


def test_index_and_size_errors():
    neck = _build(in_indices=(1, 2, 3, 4))
    with pytest.raises(ValueError, match='in_indices'):
        neck(_pyramid(SMALL['in_channels']))
    neck = _build()
    feats = [torch.rand(B, c, 16, 16) for c in SMALL['in_channels']]
    with pytest.raises(ValueError, match='half the previous resolution'):
        neck(feats)
    with pytest.raises(ValueError, match='differ in length'):
        _build(in_indices=(0, 1, 2))


def _global_attention_as_written(module, feats):
    """The global attention step by step as in the paper's Fig. 4: 1x1
    reduce, bilinear up-sampling, score conv at F_1's size, softmax, area
    resizing of W_n * G_n back, 1x1 projection, residual."""
    import torch.nn.functional as F
    size = feats[0].shape[-2:]
    globals_ = [
        F.interpolate(
            reduce(f), size=size, mode='bilinear', align_corners=False)
        for f, reduce in zip(feats, module.reduce_convs)
    ]
    weights = torch.cat(
        [score(g) for score, g in zip(module.score_convs, globals_)],
        dim=1).softmax(dim=1)
    fused = []
    for n, (f, g,
            out_conv) in enumerate(zip(feats, globals_, module.out_convs)):
        weighted = F.interpolate(
            weights[:, n:n + 1] * g, size=f.shape[-2:], mode='area')
        fused.append(out_conv(weighted) + f)
    return fused, weights


@pytest.mark.parametrize('height,width', [(16, 16), (24, 40), (13, 11)])
def test_global_attention_equals_the_step_by_step_form(height, width):
    """Scores at the low resolution + matrix-product resizing compute the
    same function (outputs and every gradient) as the literal order."""
    torch.manual_seed(0)
    neck = _build().double()
    feats = []
    h, w = height, width
    for c in SMALL['in_channels']:
        feats.append(
            torch.randn(B, c, h, w, dtype=torch.float64, requires_grad=True))
        h, w = -(-h // 2), -(-w // 2)
    fused, weights = neck.global_attention(feats)
    ref_fused, ref_weights = _global_attention_as_written(
        neck.global_attention, feats)
    assert torch.allclose(weights, ref_weights, atol=1e-12)
    for a, b in zip(fused, ref_fused):
        assert torch.allclose(a, b, atol=1e-10)
    upstream = [torch.randn_like(f) for f in fused]
    params = [feats[0], feats[3]] + list(neck.global_attention.parameters())
    grads = torch.autograd.grad(
        sum((f * u).sum() for f, u in zip(fused, upstream)), params)
    ref_grads = torch.autograd.grad(
        sum((f * u).sum() for f, u in zip(ref_fused, upstream)), params)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, atol=1e-9), (g - r).abs().max()
