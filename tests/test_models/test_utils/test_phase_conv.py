"""PhaseConv2d / phase_conv2d: a dilated convolution without dilation."""
# isort: off
import sadinet_mmpose  # noqa: F401  (first: mmcv-lite placeholders)
# isort: on
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmpose.registry import MODELS

from sadinet_mmpose.models.backbones import DilatedResidualBlock
from sadinet_mmpose.models.utils import PhaseConv2d, phase_conv2d

# (H, W, dilation, stride, kernel, channels_last)
CASES = [
    (8, 8, 2, 1, 3, False),
    (8, 8, 2, 1, 3, True),
    (9, 7, 2, 1, 3, True),  # odd sizes: padded to a multiple, cropped
    (8, 6, 2, 2, 3, True),  # stride == dilation: the (0, 0) phase only
    (9, 9, 2, 2, 3, False),
    (12, 12, 3, 1, 3, False),
    (10, 11, 3, 3, 5, True),
]


@pytest.mark.parametrize('h,w,d,s,k,cl', CASES)
def test_equals_dilated_conv_outputs_and_gradients(h, w, d, s, k, cl):
    g = torch.Generator().manual_seed(h * 100 + w)
    x = torch.randn(2, 5, h, w, dtype=torch.float64, generator=g)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    weight = torch.randn(4, 5, k, k, dtype=torch.float64, generator=g,
                         requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, generator=g,
                       requires_grad=True)
    ref = F.conv2d(x, weight, bias, s, d * (k - 1) // 2, d)
    out = phase_conv2d(x, weight, bias, s, d)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn(ref.shape, dtype=torch.float64, generator=g)
    want = torch.autograd.grad(ref, (x, weight, bias), grad)
    got = torch.autograd.grad(out, (x, weight, bias), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
    if cl and (h, w) == tuple(ref.shape[-2:]) and h % d == 0 and w % d == 0:
        assert out.is_contiguous(memory_format=torch.channels_last), \
            'channels_last in, channels_last out'


def test_grouped_and_bad_stride():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 8, 8, dtype=torch.float64, generator=g)
    weight = torch.randn(6, 2, 3, 3, dtype=torch.float64, generator=g)
    torch.testing.assert_close(
        phase_conv2d(x, weight, None, 1, 2, groups=2),
        F.conv2d(x, weight, None, 1, 2, 2, groups=2))
    with pytest.raises(ValueError, match='stride must be 1 or the dilation 2'):
        phase_conv2d(x, weight, None, 3, 2, groups=2)


def test_module_is_a_conv2d_and_falls_back_where_not_applicable():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 10)
    for kwargs in [dict(dilation=2, padding=2),               # phases
                   dict(dilation=2, padding=2, stride=2),     # (0,0) phase
                   dict(padding=1),                           # no dilation
                   dict(dilation=2, padding=1),               # not 'same'
                   dict(dilation=2, padding=2, stride=3),     # other stride
                   dict(dilation=2, padding='same'),
                   dict(dilation=2, padding=2, padding_mode='reflect')]:
        conv = nn.Conv2d(3, 4, 3, **kwargs)
        phase = PhaseConv2d(3, 4, 3, **kwargs)
        assert isinstance(phase, nn.Conv2d)
        phase.load_state_dict(conv.state_dict())  # same parameters
        torch.testing.assert_close(phase(x), conv(x), rtol=1e-5, atol=1e-5,
                                   msg=f'{kwargs}')
    assert PhaseConv2d(3, 4, 3, dilation=2, padding=2)._phase_applicable()
    assert not PhaseConv2d(3, 4, 3, dilation=2, padding=1)._phase_applicable()


def test_tracing_sees_one_plain_convolution():
    conv = PhaseConv2d(3, 4, 3, dilation=2, padding=2)
    traced = torch.jit.trace(conv, torch.randn(1, 3, 8, 8))
    kinds = [n.kind() for n in traced.inlined_graph.nodes()]
    assert kinds.count('aten::_convolution') == 1
    assert 'aten::permute' not in kinds and 'aten::reshape' not in kinds


def test_branch_conv_cfg_reaches_block_and_keeps_results():
    """The block and RFMHourglass take the branch's conv config; outputs and
    gradients equal the default's with the same weights."""
    assert build_conv_layer(dict(type='PhaseConv2d'), 3, 4, 3).__class__ \
        is PhaseConv2d
    torch.manual_seed(0)
    plain = DilatedResidualBlock(8, 8)
    phase = DilatedResidualBlock(8, 8,
                                 branch_conv_cfg=dict(type='PhaseConv2d'))
    assert type(phase.dilated_conv) is PhaseConv2d
    assert type(phase.conv1) is nn.Conv2d  # only the branch changes
    phase.load_state_dict(plain.state_dict())
    x = torch.randn(2, 8, 12, 12, dtype=torch.float64)
    plain.double()
    phase.double()
    xs = [x.clone().requires_grad_() for _ in range(2)]
    outs = [m(v) for m, v in zip((plain, phase), xs)]
    torch.testing.assert_close(outs[1], outs[0])
    grad = torch.randn_like(outs[0])
    for o in outs:
        o.backward(grad)
    torch.testing.assert_close(xs[1].grad, xs[0].grad)
    torch.testing.assert_close(phase.dilated_conv.weight.grad,
                               plain.dilated_conv.weight.grad)

    net = MODELS.build(dict(
        type='RFMHourglass', downsample_times=4,
        stage_channels=(256, 16, 24, 24, 32), stage_blocks=(1, 1, 1, 1, 1),
        feat_channel=16, ms_channels=(8, 16, 24, 32),
        branch_conv_cfg=dict(type='PhaseConv2d')))
    blocks = [m for m in net.modules() if isinstance(m, DilatedResidualBlock)]
    assert blocks and all(
        type(b.dilated_conv) is PhaseConv2d and type(b.conv1) is nn.Conv2d
        for b in blocks)


@pytest.mark.gpu
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('cl', [False, True])
def test_cuda_matches_native_dilated_conv(dtype, cl):
    """On the GPU (cuDNN picks other kernels for each form) the outputs and
    gradients agree within the precision's rounding."""
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 48, 3, padding=2, dilation=2).cuda()
    phase = PhaseConv2d(32, 48, 3, padding=2, dilation=2).cuda()
    phase.load_state_dict(conv.state_dict())
    x = torch.randn(4, 32, 24, 24, device='cuda')
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
        conv.to(memory_format=torch.channels_last)
        phase.to(memory_format=torch.channels_last)
    outs, grads = [], []
    for m in (conv, phase):
        xi = x.clone().requires_grad_()
        with torch.autocast('cuda', dtype=dtype,
                            enabled=dtype != torch.float32):
            y = m(xi)
        y.float().square().mean().backward()
        outs.append(y.float())
        grads.append((xi.grad, m.weight.grad))
    tol = dict(rtol=2e-2, atol=2e-2) if dtype == torch.bfloat16 else dict(
        rtol=1e-3, atol=1e-3)  # TF32 convolutions in fp32
    torch.testing.assert_close(outs[1], outs[0], **tol)
    for a, b in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, b, **tol)
    if cl:
        assert outs[1].is_contiguous(memory_format=torch.channels_last)
