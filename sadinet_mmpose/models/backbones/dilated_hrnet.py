"""MMPose's HRNet with SADI-Net's dilated residual block as a third block
type."""
from typing import Optional

from mmpose.models.backbones import HRNet
from mmpose.registry import MODELS

from .dilated_residual_block import DilatedResidualBlock


def configured_dilated_block(branch_dilation: int = 2, se_ratio=16) -> type:
    """A :class:`DilatedResidualBlock` subclass with other default options.

    HRNet (and ResNet's ``ResLayer``) construct their blocks with a fixed set
    of arguments (``in_channels, out_channels, stride, downsample, with_cp,
    norm_cfg, conv_cfg``), so the block's own options cannot be passed
    through them. A subclass whose defaults are the wanted values can be
    given instead; its parameter names are the block's, so checkpoints move
    between the two.

    Args:
        branch_dilation (int): Dilation of the parallel branch. Defaults to 2.
        se_ratio (int, optional): SE reduction ratio; None disables SE.
            Defaults to 16.

    Returns:
        type: The block class (the plain :class:`DilatedResidualBlock` when
        both values are its defaults).
    """
    if branch_dilation == 2 and se_ratio == 16:
        return DilatedResidualBlock

    class _ConfiguredDilatedResidualBlock(DilatedResidualBlock):

        def __init__(self, *args, **kwargs):
            kwargs.setdefault('branch_dilation', branch_dilation)
            kwargs.setdefault('se_ratio', se_ratio)
            super().__init__(*args, **kwargs)

    _ConfiguredDilatedResidualBlock.__name__ = (
        f'DilatedResidualBlock_d{branch_dilation}_se{se_ratio}')
    _ConfiguredDilatedResidualBlock.__qualname__ = (
        _ConfiguredDilatedResidualBlock.__name__)
    return _ConfiguredDilatedResidualBlock


@MODELS.register_module()
class DilatedHRNet(HRNet):
    """MMPose's :class:`~mmpose.models.backbones.HRNet` with a ``'DILATED'``
    block.

    HRNet picks each stage's block by name from the class attribute
    ``blocks_dict`` (``'BASIC'``, ``'BOTTLENECK'``). This subclass adds
    ``'DILATED'``: SADI-Net's :class:`DilatedResidualBlock` (a basic block
    with a parallel dilated 3x3 branch and SE attention), so any stage can
    use it by ``extra.stageN.block='DILATED'``. MMPose's ``HRNet`` itself is
    not changed. Everything else (arguments, outputs, ``multiscale_output``,
    pretrained loading) is HRNet's; a ``'BASIC'`` stage's weights load into
    a ``'DILATED'`` one (same names), leaving the dilated branch and SE block
    at their initialisation.

    Args:
        extra (dict): HRNet's stage description; ``block`` may be
            ``'BASIC'``, ``'BOTTLENECK'`` or ``'DILATED'``.
        in_channels (int): Input channels. Defaults to 3.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config (also of the dilated blocks).
            Defaults to ``dict(type='BN')``.
        norm_eval (bool): Keep BN layers in eval mode. Defaults to False.
        with_cp (bool): Gradient checkpointing. Defaults to False.
        zero_init_residual (bool): Zero-init the last norm of each residual
            block (for ``'DILATED'`` as for ``'BASIC'``: ``norm2``).
            Defaults to False.
        frozen_stages (int): Stages to freeze, -1 for none. Defaults to -1.
        init_cfg (dict | list[dict]): HRNet's initialisation config.
        dilated_block_cfg (dict, optional): Options of the dilated block,
            ``dict(branch_dilation=2, se_ratio=16)``; None keeps the block's
            defaults. Defaults to None.

    Example:
        >>> extra = dict(
        ...     stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
        ...                 num_blocks=(1, ), num_channels=(8, )),
        ...     stage2=dict(num_modules=1, num_branches=2, block='DILATED',
        ...                 num_blocks=(1, 1), num_channels=(8, 16)),
        ...     stage3=dict(num_modules=1, num_branches=3, block='DILATED',
        ...                 num_blocks=(1, 1, 1), num_channels=(8, 16, 32)),
        ...     stage4=dict(num_modules=1, num_branches=4, block='DILATED',
        ...                 num_blocks=(1, 1, 1, 1),
        ...                 num_channels=(8, 16, 32, 64)))
        >>> model = DilatedHRNet(extra)
    """

    blocks_dict = {**HRNet.blocks_dict, 'DILATED': DilatedResidualBlock}

    def __init__(self,
                 extra: dict,
                 in_channels: int = 3,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = False,
                 frozen_stages: int = -1,
                 init_cfg=[
                     dict(type='Normal', std=0.001, layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ],
                 dilated_block_cfg: Optional[dict] = None):
        names = set(self.blocks_dict)
        for stage in ('stage1', 'stage2', 'stage3', 'stage4'):
            block = extra.get(stage, {}).get('block') if isinstance(
                extra, dict) else None
            if block is not None and block not in names:
                raise KeyError(
                    f'DilatedHRNet: extra.{stage}.block={block!r} is not one '
                    f'of {sorted(names)}')
        if dilated_block_cfg:
            unknown = set(dilated_block_cfg) - {'branch_dilation', 'se_ratio'}
            if unknown:
                raise TypeError(
                    'DilatedHRNet: dilated_block_cfg accepts branch_dilation '
                    f'and se_ratio, got {sorted(unknown)}')
            # An instance attribute shadows the class's table for this model
            # only (set before HRNet.__init__ builds the stages).
            self.blocks_dict = {
                **type(self).blocks_dict, 'DILATED':
                configured_dilated_block(**dilated_block_cfg)
            }
        self.dilated_block_cfg = dilated_block_cfg
        super().__init__(
            extra,
            in_channels=in_channels,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            zero_init_residual=zero_init_residual,
            frozen_stages=frozen_stages,
            init_cfg=init_cfg)
