"""The Receptive Fortified Module backbone (SADI-Net, Sec. III-B)."""
import copy
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule, build_norm_layer
from mmpose.models.backbones.hourglass import HourglassModule, HourglassNet
from mmpose.models.backbones.resnet import BasicBlock, ResLayer
from mmpose.registry import MODELS
from torch import Tensor

from .dilated_residual_block import DilatedResidualBlock


@MODELS.register_module()
class RFMHourglass(HourglassNet):
    """Stacked hourglass whose residual blocks are dilated residual blocks.

    MMPose's :class:`HourglassNet` (same layout, arguments and parameter
    names, so stock hourglass checkpoints load) with three changes:

    1. every ``BasicBlock`` (stem, hourglass modules, inter-stack layers) is
       rebuilt as a :class:`DilatedResidualBlock` (``block_type='dilated'``)
       or as a ``BasicBlock`` again (``block_type='basic'``, the stock
       Hourglass, the paper's Table III baseline). Rebuilding also applies
       ``norm_cfg`` inside the hourglass modules, which stock
       ``HourglassNet`` builds with their default BN whatever ``norm_cfg``;
    2. no unused parameters: stock ``HourglassNet`` builds one inter-stack
       block in ``inters`` even for ``num_stacks=1`` and never calls it (DDP
       then needs ``find_unused_parameters``); it is removed here;
    3. with ``multiscale_out=True`` the outputs of the outermost
       ``len(ms_channels)`` levels of the last stack's up-sampling path
       (strides 4, 8, 16, 32 of the input for the default four) are projected
       by 1x1 conv-norm-ReLU to ``ms_channels`` and returned before the stack
       features: the F1..F4 consumed by :class:`SFMNeck`.

    Args:
        downsample_times (int): Down-sampling steps in an hourglass module.
            Defaults to 5.
        num_stacks (int): Number of stacked hourglass modules; 1 gives
            Hourglass-52. Defaults to 1.
        stage_channels (Sequence[int]): Channels of each hourglass level,
            outermost first; the first must be 256 (stock stem). Defaults to
            ``(256, 256, 384, 384, 384, 512)``.
        stage_blocks (Sequence[int]): Blocks of each hourglass level.
            Defaults to ``(2, 2, 2, 2, 2, 4)``.
        feat_channel (int): Channels of each stack's output feature.
            Defaults to 256.
        block_type (str): ``'dilated'`` (RFM) or ``'basic'`` (stock
            Hourglass). Defaults to ``'dilated'``.
        dilation (int): Dilation rate of the parallel branch of each
            dilated residual block. Defaults to 2.
        se_ratio (int, optional): SE reduction ratio of each dilated residual
            block; None disables SE. Defaults to 16.
        multiscale_out (bool): Return F1..F_L before the stack features.
            Defaults to True.
        ms_channels (Sequence[int]): Channels of F1..F_L; its length L (at
            most ``downsample_times``) is the number of levels returned.
            Defaults to ``(64, 128, 256, 512)``.
        norm_cfg (dict): Norm layer config. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to stock HourglassNet's (normal std 0.001 for convs,
            constant 1 for norms).

    Note:
        - B: batch size
        - H, W: input height and width, divisible by
          ``4 * 2 ** downsample_times`` (128 for Hourglass-52, as stock)
        - N: ``num_stacks``
        - L: ``len(ms_channels)``

    Example:
        >>> import torch
        >>> from mmpose.registry import MODELS
        >>> import sadinet_mmpose  # noqa: registers RFMHourglass
        >>> net = MODELS.build(dict(type='RFMHourglass'))
        >>> net.eval()  # BaseBackbone.train returns None: do not chain
        >>> [tuple(f.shape) for f in net(torch.rand(1, 3, 256, 256))]
        [(1, 64, 64, 64), (1, 128, 32, 32), (1, 256, 16, 16),
         (1, 512, 8, 8), (1, 256, 64, 64)]
    """

    def __init__(
        self,
        downsample_times: int = 5,
        num_stacks: int = 1,
        stage_channels: Sequence[int] = (256, 256, 384, 384, 384, 512),
        stage_blocks: Sequence[int] = (2, 2, 2, 2, 2, 4),
        feat_channel: int = 256,
        block_type: str = 'dilated',
        dilation: int = 2,
        se_ratio=16,
        multiscale_out: bool = True,
        ms_channels: Sequence[int] = (64, 128, 256, 512),
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=[
            dict(type='Normal', std=0.001, layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ],
    ):
        if block_type not in ('dilated', 'basic'):
            raise ValueError("RFMHourglass: block_type must be 'dilated' or "
                             f"'basic', got {block_type!r}")
        if multiscale_out and not 1 <= len(ms_channels) <= downsample_times:
            raise ValueError(
                f'RFMHourglass: len(ms_channels)={len(ms_channels)} must be '
                f'between 1 and downsample_times={downsample_times}')
        norm_cfg = copy.deepcopy(norm_cfg)
        super().__init__(
            downsample_times=downsample_times,
            num_stacks=num_stacks,
            stage_channels=stage_channels,
            stage_blocks=stage_blocks,
            feat_channel=feat_channel,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg)
        self.norm_cfg = norm_cfg
        self.block_type = block_type
        self.dilation = dilation
        self.se_ratio = se_ratio
        self.multiscale_out = multiscale_out
        self.ms_channels = tuple(ms_channels) if multiscale_out else ()

        # Stock HourglassNet builds max(1, num_stacks - 1) inter blocks but
        # calls only num_stacks - 1 of them.
        self.inters = nn.Sequential(*list(self.inters)[:num_stacks - 1])
        if stage_channels[0] != 256:
            # The stock stem always ends at 256 channels (7x7 conv to 128,
            # then a stride-2 residual layer to 256). For narrower models it
            # is rebuilt with the same layout ending at stage_channels[0];
            # the default (Hourglass-52) keeps the stock stem.
            width = stage_channels[0]
            self.stem = nn.Sequential(
                ConvModule(
                    3,
                    max(width // 2, 8),
                    7,
                    padding=3,
                    stride=2,
                    norm_cfg=norm_cfg),
                ResLayer(
                    BasicBlock,
                    1,
                    max(width // 2, 8),
                    width,
                    stride=2,
                    norm_cfg=norm_cfg))
        self._rebuild_blocks()

        if multiscale_out:
            self.ms_convs = nn.ModuleList([
                ConvModule(
                    stage_channels[level], channels, 1, norm_cfg=norm_cfg)
                for level, channels in enumerate(self.ms_channels)
            ])
        self.out_channels = self.ms_channels + (feat_channel, ) * num_stacks

    def _make_block(self, old: BasicBlock) -> BasicBlock:
        """A block of the configured type with ``old``'s shape and shortcut.

        Args:
            old (BasicBlock): The stock block to replace.

        Returns:
            BasicBlock: A ``BasicBlock`` or ``DilatedResidualBlock`` with the
            same in/out channels and stride, using ``norm_cfg`` throughout.
        """
        downsample = old.downsample
        if downsample is not None:
            downsample[-1] = build_norm_layer(self.norm_cfg,
                                              old.out_channels)[1]
        kwargs = dict(
            in_channels=old.in_channels,
            out_channels=old.out_channels,
            stride=old.stride,
            downsample=downsample,
            norm_cfg=self.norm_cfg)
        if self.block_type == 'basic':
            return BasicBlock(**kwargs)
        return DilatedResidualBlock(
            branch_dilation=self.dilation, se_ratio=self.se_ratio, **kwargs)

    def _rebuild_blocks(self) -> None:
        """Replace every stock ``BasicBlock`` (see the class doc)."""
        for parent in list(self.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is BasicBlock:
                    setattr(parent, name, self._make_block(child))

    def _forward_levels(self, hourglass: HourglassModule, x: Tensor,
                        num_levels: int) -> List[Tensor]:
        """Run one hourglass module, keeping its outer levels' outputs.

        Args:
            hourglass (HourglassModule): The (outermost) module to run.
            x (Tensor): Its input, shape (B, C_0, h, w).
            num_levels (int): How many levels' outputs to keep.

        Returns:
            list[Tensor]: The up-sampling path's output of the outermost
            ``num_levels`` levels, outermost first; level ``l`` has shape
            (B, stage_channels[l], h / 2**l, w / 2**l). Element 0 is the
            module's output.
        """
        if num_levels == 1:
            return [hourglass(x)]
        inner = self._forward_levels(hourglass.low2, hourglass.low1(x),
                                     num_levels - 1)
        out = hourglass.up1(x) + hourglass.up2(hourglass.low3(inner[0]))
        return [out] + inner

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward.

        Args:
            x (Tensor): Images of shape (B, 3, H, W).

        Returns:
            tuple[Tensor]: With ``multiscale_out=True``:
            ``(F_1, ..., F_L, S_1, ..., S_N)``, F_l of shape
            (B, ms_channels[l-1], H / 2**(l+1), W / 2**(l+1)) from the last
            stack; else ``(S_1, ..., S_N)``. S_i is stack i's output of shape
            (B, feat_channel, H / 4, W / 4).
        """
        inter_feat = self.stem(x)
        stack_feats = []
        levels = []
        for ind in range(self.num_stacks):
            hourglass = self.hourglass_modules[ind]
            if self.multiscale_out and ind == self.num_stacks - 1:
                levels = self._forward_levels(hourglass, inter_feat,
                                              len(self.ms_channels))
                hourglass_feat = levels[0]
            else:
                hourglass_feat = hourglass(inter_feat)
            out_feat = self.out_convs[ind](hourglass_feat)
            stack_feats.append(out_feat)
            if ind < self.num_stacks - 1:
                inter_feat = self.conv1x1s[ind](inter_feat) + \
                    self.remap_convs[ind](out_feat)
                inter_feat = self.inters[ind](self.relu(inter_feat))
        ms_feats = [conv(feat) for conv, feat in zip(self.ms_convs, levels)] \
            if self.multiscale_out else []
        return tuple(ms_feats + stack_feats)
