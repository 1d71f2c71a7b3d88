"""The local attention and the classification head of the SFM (SADI-Net,
Sec. III-C, Fig. 5). The head follows HRNet's classification head (Wang et
al., "Deep High-Resolution Representation Learning", TPAMI 2020)."""
import copy
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpose.models.backbones.resnet import Bottleneck, ResLayer
from torch import Tensor

_SOFTMAX_DIMS = {'height': 2, 'width': 3}


class SFMLocalAttention(nn.Module):
    """Weight a feature map by its own softmax along one spatial axis.

    ``out = x * softmax(x, dim)``; with ``dim='height'`` the softmax runs
    down each column of each channel (the paper's "softmax along the
    columns").

    Args:
        dim (str): ``'height'`` or ``'width'``. Defaults to ``'height'``.

    Note:
        - B, C, H, W: batch, channels, height, width of the input
    """

    def __init__(self, dim: str = 'height'):
        super().__init__()
        if dim not in _SOFTMAX_DIMS:
            raise ValueError("SFMLocalAttention: dim must be 'height' or "
                             f"'width', got {dim!r}")
        self.dim = dim

    def weights(self, x: Tensor) -> Tensor:
        """The weighting map.

        Args:
            x (Tensor): Fused features of shape (B, C, H, W).

        Returns:
            Tensor: Softmax of ``x`` along ``dim``, shape (B, C, H, W).
        """
        return x.softmax(dim=_SOFTMAX_DIMS[self.dim])

    def forward(self, x: Tensor) -> Tensor:
        """Forward.

        Args:
            x (Tensor): Fused features of shape (B, C, H, W).

        Returns:
            Tensor: ``x * weights(x)``, shape (B, C, H, W).
        """
        return x * self.weights(x)


class SFMClassificationHead(BaseModule):
    """HRNet-style classification head with local attention at each fusion.

    Each branch n is raised to ``cls_channels[n]`` by bottleneck blocks;
    from high to low resolution the running map is down-sampled by a 3x3
    stride-2 conv (+norm+ReLU) to the next branch's channels, added to that
    branch and re-weighted by :class:`SFMLocalAttention`; a 1x1 conv
    (+norm+ReLU) to ``out_channels`` and global average pooling give f.

    Args:
        in_channels (Sequence[int]): Channels of the L input branches,
            highest resolution first.
        cls_channels (Sequence[int]): Channels each branch is raised to.
            Defaults to ``(128, 256, 512, 1024)``.
        out_channels (int): Size of the pooled vector f. Defaults to 2048.
        num_blocks (int): Bottleneck blocks per branch. Defaults to 1 (as
            HRNet).
        local_softmax_dim (str, optional): Axis of the local attention's
            softmax, ``'height'`` or ``'width'``; None disables the local
            attention (plain HRNet head). Defaults to ``'height'``.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.

    Note:
        - B: batch size
        - L: number of branches
        - C_n, H_n, W_n: channels and size of branch n; H_{n+1} must equal
          ceil(H_n / 2) (same for W)
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 cls_channels: Sequence[int] = (128, 256, 512, 1024),
                 out_channels: int = 2048,
                 num_blocks: int = 1,
                 local_softmax_dim: Optional[str] = 'height',
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        norm_cfg = copy.deepcopy(norm_cfg)
        if len(cls_channels) != len(in_channels):
            raise ValueError(
                f'SFMClassificationHead: cls_channels={tuple(cls_channels)} '
                f'and in_channels={tuple(in_channels)} differ in length')
        self.in_channels = tuple(in_channels)
        self.cls_channels = tuple(cls_channels)
        self.out_channels = out_channels
        self.incre_layers = nn.ModuleList([
            ResLayer(Bottleneck, num_blocks, c_in, c_cls, norm_cfg=norm_cfg)
            for c_in, c_cls in zip(self.in_channels, self.cls_channels)
        ])
        self.downsample_layers = nn.ModuleList([
            ConvModule(
                c_high, c_low, 3, stride=2, padding=1,
                norm_cfg=norm_cfg) for c_high, c_low in zip(
                    self.cls_channels[:-1], self.cls_channels[1:])
        ])
        self.local_attention = (
            SFMLocalAttention(local_softmax_dim)
            if local_softmax_dim is not None else None)
        self.final_layer = ConvModule(
            self.cls_channels[-1], out_channels, 1, norm_cfg=norm_cfg)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Forward.

        Args:
            feats (Sequence[Tensor]): L maps, the n-th of shape
                (B, C_n, H_n, W_n).

        Returns:
            Tensor: f of shape (B, out_channels).
        """
        y = self.incre_layers[0](feats[0])
        for n, down in enumerate(self.downsample_layers):
            y = down(y)
            branch = self.incre_layers[n + 1](feats[n + 1])
            if y.shape[-2:] != branch.shape[-2:]:
                raise ValueError(
                    f'SFMClassificationHead: branch {n} down-sampled to '
                    f'{tuple(y.shape[-2:])} does not match branch {n + 1} '
                    f'of size {tuple(branch.shape[-2:])}; each branch must '
                    'have half the previous resolution')
            y = y + branch
            if self.local_attention is not None:
                y = self.local_attention(y)
        return self.pool(self.final_layer(y)).flatten(1)
