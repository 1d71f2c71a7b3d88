"""Squeeze-and-excitation channel attention, the last stage of the RFM block.

Source: Hu et al., "Squeeze-and-Excitation Networks" (CVPR 2018).
"""
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


class SEBlock(BaseModule):
    """Squeeze-and-excitation block: re-weights the channels of its input.

    Global average pooling squeezes each channel to one number; two 1x1
    convolutions (``C -> C // ratio -> C``, ReLU between, sigmoid after) turn
    these into one gate in (0, 1) per channel, and the input is multiplied by
    its gates.

    Args:
        channels (int): Number of input (and output) channels ``C``.
        ratio (int): Channel reduction ratio of the bottleneck; the hidden
            width is ``max(1, C // ratio)``. Defaults to 16.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.

    Note:
        - B: batch size
        - C: channels
        - H, W: feature height and width
    """

    def __init__(self, channels: int, ratio: int = 16, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if ratio < 1:
            raise ValueError(f'SEBlock: ratio must be >= 1, got {ratio}')
        hidden = max(1, channels // ratio)
        self.channels = channels
        self.ratio = ratio
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.squeeze = nn.Conv2d(channels, hidden, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.excite = nn.Conv2d(hidden, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def channel_weights(self, x: Tensor) -> Tensor:
        """The per-channel gates.

        Args:
            x (Tensor): Input of shape (B, C, H, W).

        Returns:
            Tensor: Gates in (0, 1) of shape (B, C, 1, 1).
        """
        return self.gate(self.excite(self.relu(self.squeeze(self.pool(x)))))

    def forward(self, x: Tensor) -> Tensor:
        """Re-weight the channels.

        Args:
            x (Tensor): Input of shape (B, C, H, W).

        Returns:
            Tensor: ``x * gates``, shape (B, C, H, W).
        """
        return x * self.channel_weights(x)
