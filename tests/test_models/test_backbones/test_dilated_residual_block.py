"""Tests of DilatedResidualBlock and SEBlock."""
# isort: off
import sadinet_mmpose  # noqa: F401  (first: mmcv-lite placeholders)
# isort: on
import pytest
import torch
import torch.nn as nn
from mmpose.models.backbones.resnet import BasicBlock, ResLayer
from mmpose.registry import MODELS

from sadinet_mmpose.models.backbones import DilatedResidualBlock, SEBlock


def _impulse_response(block: nn.Module, size: int = 15) -> torch.Tensor:
    """Output channel-sum of ``block`` (eval mode) for a centred impulse."""
    block.eval()
    x = torch.zeros(1, block.in_channels, size, size)
    x[:, :, size // 2, size // 2] = 1.0
    with torch.no_grad():
        return block(x)[0].sum(0)


def _support_radius(response: torch.Tensor, tol: float = 1e-6) -> int:
    """Chebyshev radius of the non-zero region around the centre."""
    centre = response.shape[-1] // 2
    rows, cols = torch.nonzero(response.abs() > tol, as_tuple=True)
    return int(
        torch.maximum((rows - centre).abs(), (cols - centre).abs()).max())


def _positive_convs(block: nn.Module) -> nn.Module:
    """Give every conv a positive constant weight (ReLUs then pass all)."""
    for module in block.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 0.1)
    return block


def test_registered_and_is_a_basic_block():
    block = MODELS.build(
        dict(type='DilatedResidualBlock', in_channels=8, out_channels=8))
    assert isinstance(block, DilatedResidualBlock), 'registry build'
    assert isinstance(block, BasicBlock), 'drop-in subclass of BasicBlock'
    assert block.expansion == 1, 'expansion attribute'
    assert block.branch_dilation == 2 and block.se.ratio == 16, 'defaults'
    assert block.dilated_conv.dilation == (2, 2), 'branch dilation'


@pytest.mark.parametrize('stride,in_ch,out_ch', [(1, 8, 8), (2, 8, 16),
                                                 (1, 8, 16)])
def test_shapes_through_reslayer(stride, in_ch, out_ch):
    case = f'stride={stride} {in_ch}->{out_ch}'
    layer = ResLayer(
        DilatedResidualBlock,
        2,
        in_ch,
        out_ch,
        stride=stride,
        branch_dilation=3,
        se_ratio=4)
    assert layer[0].downsample is not None or (stride == 1
                                               and in_ch == out_ch), case
    assert all(b.branch_dilation == 3 for b in layer), f'{case}: kwargs'
    out = layer(torch.rand(2, in_ch, 12, 12))
    assert out.shape == (2, out_ch, 12 // stride, 12 // stride), case
    assert torch.isfinite(out).all(), f'{case}: finite'


def test_hourglass_style_last_block_downsample():
    """ResLayer(downsample_first=False) as HourglassModule's low3 uses it."""
    layer = ResLayer(DilatedResidualBlock, 2, 16, 8, downsample_first=False)
    out = layer(torch.rand(2, 16, 8, 8))
    assert out.shape == (2, 8, 8, 8), 'downsample_first=False'


@pytest.mark.parametrize('dilation', [2, 3])
def test_dilated_branch_samples_at_dilation(dilation):
    """Main branch off: the response is the 3x3 grid spaced by dilation."""
    case = f'dilation={dilation}'
    block = _positive_convs(
        DilatedResidualBlock(4, 4, branch_dilation=dilation, se_ratio=None))
    nn.init.zeros_(block.conv2.weight)
    response = _impulse_response(block)
    centre = response.shape[-1] // 2
    expected = torch.zeros_like(response, dtype=torch.bool)
    for dy in (-dilation, 0, dilation):
        for dx in (-dilation, 0, dilation):
            expected[centre + dy, centre + dx] = True
    assert torch.equal(response.abs() > 1e-6, expected), case


def test_receptive_field_wider_than_basic_block():
    basic = _positive_convs(BasicBlock(4, 4))
    dilated = _positive_convs(DilatedResidualBlock(4, 4, branch_dilation=3))
    basic_radius = _support_radius(_impulse_response(basic))
    dilated_radius = _support_radius(_impulse_response(dilated))
    assert basic_radius == 2, f'basic block radius {basic_radius}'
    assert dilated_radius == 3, f'dilated (d=3) block radius {dilated_radius}'
    # d=2 reaches as far as two 3x3 convs, but with more weight at +-2.
    dilated2 = _positive_convs(DilatedResidualBlock(4, 4, branch_dilation=2))
    r_basic = _impulse_response(basic)
    r_dil2 = _impulse_response(dilated2)
    assert _support_radius(r_dil2) == 2, 'd=2 radius'
    assert r_dil2[5, 5] / r_dil2[7, 7] > r_basic[5, 5] / r_basic[7, 7], \
        'd=2: the dilated taps add weight at offset (2, 2)'


def test_se_reweights_channels():
    torch.manual_seed(0)
    se = SEBlock(8, ratio=4)
    x = torch.rand(2, 8, 5, 5) + 0.1
    gates = se.channel_weights(x)
    out = se(x)
    assert gates.shape == (2, 8, 1, 1), 'gate shape'
    assert ((gates > 0) & (gates < 1)).all(), 'gates in (0, 1)'
    ratio = out / x
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio)), \
        'one gate per channel'
    assert ratio[0, :, 0, 0].std() > 0, 'channels get different gates'
    assert se.conv1.conv.out_channels == 2, 'hidden width = C // ratio'


@pytest.mark.parametrize('channels,ratio', [(32, 16), (384, 16), (8, 4),
                                            (24, 5)])
def test_se_block_computes_mmpose_se_layer(channels, ratio):
    """SEBlock is MMPose's SELayer: the same parameters give the same
    output, and its gates are SELayer's output over its input."""
    from mmpose.models.backbones.utils import SELayer
    torch.manual_seed(0)
    ours, stock = SEBlock(channels, ratio), SELayer(channels, ratio)
    assert ours.conv1.conv.out_channels == channels // ratio, \
        f'{channels}/{ratio}: hidden width'
    stock.load_state_dict(ours.state_dict())
    x = torch.randn(2, channels, 7, 5)
    want = stock(x)
    assert torch.equal(ours(x), want), f'{channels}/{ratio}: forward'
    assert torch.allclose(x * ours.channel_weights(x), want), \
        f'{channels}/{ratio}: gates'


def test_se_can_be_disabled_and_block_uses_it():
    block = DilatedResidualBlock(8, 8, se_ratio=None)
    assert block.se is None, 'se_ratio=None disables SE'
    block = DilatedResidualBlock(8, 8, se_ratio=16)
    assert block.se.conv1.conv.out_channels == 1, 'hidden width floor of 1'
    with pytest.raises(ValueError, match='ratio must be >= 1'):
        SEBlock(8, ratio=0)


def test_with_cp_matches_plain_forward():
    torch.manual_seed(0)
    block = DilatedResidualBlock(4, 4, with_cp=True).eval()
    x = torch.rand(1, 4, 6, 6, requires_grad=True)
    out_cp = block(x)
    block.with_cp = False
    assert torch.allclose(out_cp, block(x)), 'checkpointed == plain'
    out_cp.sum().backward()
    assert x.grad is not None, 'gradient through checkpoint'


def test_invalid_dilation():
    with pytest.raises(ValueError, match='branch_dilation'):
        DilatedResidualBlock(4, 4, branch_dilation=0)


@pytest.mark.parametrize('se_ratio', [4, None])
@pytest.mark.parametrize('downsample', [False, True])
def test_forward_is_the_documented_formula(se_ratio, downsample):
    """out = ReLU(SE(main(x) + dilated(x)) + shortcut(x)), written out with
    separate operations (the block fuses SE and the shortcut in addcmul)."""
    import torch.nn as nn
    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(4, 8, 1, bias=False),
                         nn.BatchNorm2d(8)) if downsample else None
    block = DilatedResidualBlock(
        4 if downsample else 8, 8, se_ratio=se_ratio,
        downsample=down).double()
    x = torch.randn(
        2,
        4 if downsample else 8,
        6,
        6,
        dtype=torch.float64,
        requires_grad=True)
    main = block.norm2(block.conv2(block.relu(block.norm1(block.conv1(x)))))
    summed = main + block.dilated_norm(block.dilated_conv(x))
    if se_ratio:
        summed = block.se(summed)
    shortcut = x if down is None else down(x)
    ref = torch.relu(summed + shortcut)
    out = block(x)
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    upstream = torch.randn_like(out)
    params = [x] + list(block.parameters())
    grads = torch.autograd.grad((out * upstream).sum(), params)
    ref_grads = torch.autograd.grad((ref * upstream).sum(), params)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=0, atol=1e-10)
