"""Tests of the RFMHourglass backbone."""
# isort: off
import sadinet_mmpose  # noqa: F401  (first: mmcv-lite placeholders)
# isort: on
import pytest
import torch
from mmpose.models.backbones import HourglassNet
from mmpose.models.backbones.resnet import BasicBlock
from mmpose.registry import MODELS

from sadinet_mmpose.models.backbones import DilatedResidualBlock

# A small hourglass with the stock stem (256 channels at the outer level,
# as stock HourglassNet, so parameter counts can be compared with it).
SMALL = dict(
    downsample_times=4,
    stage_channels=(256, 16, 24, 24, 32),
    stage_blocks=(1, 1, 1, 1, 1),
    feat_channel=16,
    ms_channels=(8, 16, 24, 32))
INPUT = 64


def _build(**kwargs):
    return MODELS.build(dict(type='RFMHourglass', **{**SMALL, **kwargs}))


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('block_type', ['dilated', 'basic'])
@pytest.mark.parametrize('multiscale_out', [True, False])
@pytest.mark.parametrize('num_stacks', [1, 2])
def test_output_contract(num_stacks, multiscale_out, block_type):
    case = (f'num_stacks={num_stacks} multiscale_out={multiscale_out} '
            f'block_type={block_type}')
    net = _build(
        num_stacks=num_stacks,
        multiscale_out=multiscale_out,
        block_type=block_type)
    with torch.no_grad():
        feats = net(torch.rand(2, 3, INPUT, INPUT))
    expected = []
    if multiscale_out:
        expected += [(2, c, INPUT // 2**(level + 2), INPUT // 2**(level + 2))
                     for level, c in enumerate(SMALL['ms_channels'])]
    expected += [(2, SMALL['feat_channel'], INPUT // 4, INPUT // 4)
                 ] * num_stacks
    assert [tuple(f.shape) for f in feats] == expected, case
    assert net.out_channels == tuple(e[1] for e in expected), \
        f'{case}: out_channels attribute'
    assert all(torch.isfinite(f).all() for f in feats), f'{case}: finite'
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    want = DilatedResidualBlock if block_type == 'dilated' else BasicBlock
    assert blocks and all(type(b) is want for b in blocks), \
        f'{case}: every block is a {want.__name__}'


@pytest.mark.parametrize('num_stacks,block_type', [(1, 'dilated'),
                                                   (2, 'basic')])
def test_every_parameter_gets_a_gradient(num_stacks, block_type):
    case = f'num_stacks={num_stacks} block_type={block_type}'
    torch.manual_seed(0)
    net = _build(num_stacks=num_stacks, block_type=block_type)
    net.init_weights()
    feats = net(torch.rand(2, 3, INPUT, INPUT))
    # Random weights: a plain sum has zero gradient through train-mode BN.
    loss = sum((f * torch.randn_like(f)).sum() for f in feats)
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f'{case}: unused parameters {missing[:5]}'
    zero = [n for n, p in net.named_parameters() if not p.grad.any()]
    assert not zero, f'{case}: zero gradients {zero[:5]}'
    assert all(torch.isfinite(p.grad).all() for p in net.parameters()), \
        f'{case}: finite gradients'


def test_dilation_and_se_options_reach_every_block():
    net = _build(dilation=3, se_ratio=None)
    blocks = [m for m in net.modules() if isinstance(m, DilatedResidualBlock)]
    assert all(b.dilated_conv.dilation == (3, 3) for b in blocks), 'dilation'
    assert all(b.se is None for b in blocks), 'se_ratio=None'


@pytest.mark.parametrize('num_stacks', [1, 2])
def test_basic_equals_stock_hourglass(num_stacks):
    """block_type='basic', multiscale_out=False is stock HourglassNet minus
    its unused layer: same state-dict keys and shapes except ``inters.*``
    (present in stock only for num_stacks=1), same outputs with the same
    weights."""
    case = f'num_stacks={num_stacks}'
    kwargs = {k: v for k, v in SMALL.items() if k != 'ms_channels'}
    torch.manual_seed(0)
    stock = HourglassNet(num_stacks=num_stacks, **kwargs)
    net = _build(
        num_stacks=num_stacks, block_type='basic', multiscale_out=False)
    stock.eval()  # (BaseBackbone.train returns None: no chaining)
    net.eval()
    stock_sd, net_sd = stock.state_dict(), net.state_dict()
    unused = {k for k in stock_sd if k.startswith('inters.')} \
        if num_stacks == 1 else set()
    assert set(stock_sd) - set(net_sd) == unused, f'{case}: missing keys'
    assert set(net_sd) <= set(stock_sd), f'{case}: extra keys'
    assert all(net_sd[k].shape == stock_sd[k].shape for k in net_sd), case
    unused_params = sum(p.numel() for n, p in stock.named_parameters()
                        if n in unused)
    assert _num_params(net) == _num_params(stock) - unused_params, case
    net.load_state_dict({k: v for k, v in stock_sd.items() if k in net_sd})
    x = torch.rand(1, 3, INPUT, INPUT)
    with torch.no_grad():
        for ours, theirs in zip(net(x), stock(x)):
            assert torch.allclose(ours, theirs, atol=1e-6), \
                f'{case}: same outputs as stock with stock weights'


def test_default_config_parameter_count():
    """Hourglass-52: stock 94,843,520 params, of which its unused
    ``inters`` block has 1,180,672; the basic RFM without multi-scale
    outputs has exactly the difference."""
    net = MODELS.build(
        dict(type='RFMHourglass', block_type='basic', multiscale_out=False))
    assert _num_params(net) == 94_843_520 - 1_180_672, 'Hourglass-52 basic'
    assert net.out_channels == (256, ), 'out_channels'


def test_norm_cfg_reaches_nested_levels():
    """Stock HourglassNet does not pass norm_cfg to its hourglass modules."""
    net = _build(norm_cfg=dict(type='GN', num_groups=8))
    norms = [
        m for m in net.modules()
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))
    ]
    assert norms and all(isinstance(m, torch.nn.GroupNorm) for m in norms), \
        'every norm layer follows norm_cfg'


def test_invalid_arguments():
    with pytest.raises(ValueError, match='block_type'):
        _build(block_type='bottleneck')
    with pytest.raises(ValueError, match='ms_channels'):
        _build(ms_channels=(8, 8, 8, 8, 8))


def test_narrow_stem_when_first_stage_is_not_256():
    """stage_channels[0] != 256 rebuilds the stem to end at that width."""
    net = _build(stage_channels=(16, 16, 24, 24, 32))
    assert net.stem[-1][0].out_channels == 16, 'stem must end at 16 channels'
    outs = net(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape)
            for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 24, 4, 4),
                               (2, 32, 2, 2),
                               (2, 16, 16, 16)], 'narrow-stem output shapes'
