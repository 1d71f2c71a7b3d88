"""DilatedHRNet: MMPose's HRNet with the dilated residual block by name."""
import pytest
import torch
from mmpose.models.backbones import HRNet  # noqa: E402
from mmpose.models.backbones.resnet import BasicBlock  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402

from sadinet_mmpose.models.backbones import DilatedHRNet  # noqa: E402
from sadinet_mmpose.models.backbones import DilatedResidualBlock

import sadinet_mmpose  # noqa: F401  isort: skip


def tiny_extra(block='DILATED', multiscale_output=False):
    return dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(1, ),
            num_channels=(8, )),
        stage2=dict(
            num_modules=1,
            num_branches=2,
            block=block,
            num_blocks=(1, 1),
            num_channels=(8, 16)),
        stage3=dict(
            num_modules=1,
            num_branches=3,
            block=block,
            num_blocks=(1, 1, 1),
            num_channels=(8, 16, 32)),
        stage4=dict(
            num_modules=1,
            num_branches=4,
            block=block,
            num_blocks=(1, 1, 1, 1),
            num_channels=(8, 16, 32, 64),
            multiscale_output=multiscale_output))


def test_registered_and_stock_hrnet_untouched():
    assert MODELS.get('DilatedHRNet') is DilatedHRNet
    assert DilatedHRNet.blocks_dict['DILATED'] is DilatedResidualBlock
    assert 'DILATED' not in HRNet.blocks_dict, \
        "mmpose's HRNet.blocks_dict was mutated"
    with pytest.raises(KeyError):
        HRNet(tiny_extra())  # stock HRNet does not know the name


@pytest.mark.parametrize('multiscale_output', [False, True])
def test_dilated_stages_forward_shapes(multiscale_output):
    model = DilatedHRNet(tiny_extra(multiscale_output=multiscale_output))
    blocks = [
        m for m in model.modules() if isinstance(m, DilatedResidualBlock)
    ]
    assert len(
        blocks) == 2 + 3 + 4, f'{len(blocks)} dilated blocks in stages 2-4'
    out = model(torch.rand(1, 3, 64, 64))
    want = [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 4, 4), (1, 64, 2, 2)]
    got = [tuple(t.shape) for t in out]
    assert got == (want if multiscale_output else want[:1]), \
        f'multiscale_output={multiscale_output}: outputs {got}'


def test_basic_hrnet_weights_load_into_dilated_hrnet():
    """Same names as BASIC: stock weights load, only the extra parts are
    new."""
    stock = HRNet(tiny_extra('BASIC'))
    dilated = DilatedHRNet(tiny_extra('DILATED'))
    result = dilated.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys, (f'unexpected: '
                                        f'{result.unexpected_keys[:5]}')
    assert all('dilated' in k or '.se.' in k for k in result.missing_keys), \
        (f'keys other than the dilated branch / SE are missing: '
         f'{result.missing_keys[:5]}')


def test_dilated_block_cfg_reaches_every_block():
    model = DilatedHRNet(
        tiny_extra(), dilated_block_cfg=dict(branch_dilation=3, se_ratio=None))
    blocks = [
        m for m in model.modules() if isinstance(m, DilatedResidualBlock)
    ]
    assert blocks and all(b.branch_dilation == 3 and b.se is None
                          for b in blocks), \
        'dilated_block_cfg did not reach every dilated block'
    assert DilatedHRNet.blocks_dict['DILATED'] is DilatedResidualBlock, \
        'dilated_block_cfg changed the class table'
    with pytest.raises(TypeError, match='dilated_block_cfg'):
        DilatedHRNet(tiny_extra(), dilated_block_cfg=dict(dilation=3))


def test_unknown_block_name_is_reported():
    extra = tiny_extra()
    extra['stage3']['block'] = 'DILATD'
    with pytest.raises(KeyError, match=r"extra.stage3.block='DILATD'"):
        DilatedHRNet(extra)


def test_zero_init_residual_treats_dilated_as_basic():
    model = DilatedHRNet(tiny_extra(), zero_init_residual=True)
    model.init_weights()
    block = next(m for m in model.modules()
                 if isinstance(m, DilatedResidualBlock))
    assert isinstance(block, BasicBlock)
    assert torch.count_nonzero(block.norm2.weight) == 0
