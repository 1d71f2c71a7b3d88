"""The dilated residual block of the RFM (SADI-Net, Sec. III-B, Fig. 3a)."""
import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmpose.models.backbones.resnet import BasicBlock
from mmpose.registry import MODELS
from torch import Tensor

from .se_block import SEBlock


@MODELS.register_module()
class DilatedResidualBlock(BasicBlock):
    """A ``BasicBlock`` with a parallel dilated 3x3 branch and SE attention.

    ``out = ReLU(SE(main(x) + dilated(x)) + shortcut(x))`` where ``main`` is
    the basic block's conv3x3-BN-ReLU-conv3x3-BN, ``dilated`` a 3x3 conv with
    dilation ``branch_dilation`` (+BN) on the block input, ``SE`` a
    squeeze-and-excitation block and ``shortcut`` the identity (or
    ``downsample``).

    The constructor extends :class:`mmpose.models.backbones.resnet.BasicBlock`
    (same arguments, same parameter names ``conv1``/``bn1``/``conv2``/``bn2``/
    ``downsample``), so the class can be passed wherever a ``BasicBlock`` is
    (e.g. ``ResLayer(DilatedResidualBlock, ...)``) and a basic block's weights
    load into it. ``dilation`` keeps BasicBlock's meaning (dilation of
    ``conv1``; MMPose's ResNet passes it to every block); the parallel branch
    has its own ``branch_dilation``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (int): Must be 1 (as BasicBlock). Defaults to 1.
        stride (int): Stride of ``conv1`` and of the dilated branch.
            Defaults to 1.
        dilation (int): Dilation of ``conv1`` (BasicBlock's argument).
            Defaults to 1.
        downsample (nn.Module, optional): Operation on the shortcut; needed
            when ``stride != 1`` or ``in_channels != out_channels``.
            Defaults to None.
        style (str): Unused, kept for BasicBlock's API. Defaults to
            ``'pytorch'``.
        with_cp (bool): Use gradient checkpointing. Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        branch_dilation (int): Dilation rate of the parallel 3x3 branch (the
            paper does not give it). Defaults to 2.
        se_ratio (int, optional): Reduction ratio of the SE block; None
            disables SE (an ablation). Defaults to 16.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.

    Note:
        - B: batch size
        - C_in, C_out: ``in_channels``, ``out_channels``
        - H, W: input height and width
    """

    expansion = 1

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expansion: int = 1,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample=None,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 branch_dilation: int = 2,
                 se_ratio=16,
                 init_cfg=None):
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            expansion=expansion,
            stride=stride,
            dilation=dilation,
            downsample=downsample,
            style=style,
            with_cp=with_cp,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg)
        if branch_dilation < 1:
            raise ValueError('DilatedResidualBlock: branch_dilation must be '
                             f'>= 1, got {branch_dilation}')
        self.branch_dilation = branch_dilation
        self.se_ratio = se_ratio
        self.dilated_conv = build_conv_layer(
            conv_cfg,
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=branch_dilation,
            dilation=branch_dilation,
            bias=False)
        self.dilated_norm_name, dilated_norm = build_norm_layer(
            self.norm_cfg, out_channels, postfix='_dilated')
        self.add_module(self.dilated_norm_name, dilated_norm)
        self.se = SEBlock(out_channels, se_ratio) if se_ratio else None

    @property
    def dilated_norm(self):
        """nn.Module: the norm layer of the dilated branch."""
        return getattr(self, self.dilated_norm_name)

    def forward(self, x: Tensor) -> Tensor:
        """Forward.

        Args:
            x (Tensor): Input of shape (B, C_in, H, W).

        Returns:
            Tensor: Output of shape (B, C_out, H / stride, W / stride).
        """

        def _inner_forward(x):
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.norm2(self.conv2(out))
            out = out + self.dilated_norm(self.dilated_conv(x))
            identity = x if self.downsample is None else self.downsample(x)
            if self.se is not None:
                # SE(out) + identity in one pass: identity + out * gates
                return torch.addcmul(identity, out,
                                     self.se.channel_weights(out))
            return out + identity

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)
        return self.relu(out)
