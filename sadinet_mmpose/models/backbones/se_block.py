"""Squeeze-and-excitation channel attention, the last stage of the RFM block.

Source: Hu et al., "Squeeze-and-Excitation Networks" (CVPR 2018); the layer
is MMPose's :class:`~mmpose.models.backbones.utils.SELayer`.
"""
from mmpose.models.backbones.utils import SELayer
from torch import Tensor


class SEBlock(SELayer):
    """MMPose's ``SELayer`` with a hidden width of at least 1 and its gates.

    Global average pooling squeezes each channel to one number; two 1x1
    convolutions (``C -> C // ratio -> C``, ReLU between, sigmoid after) turn
    these into one gate in (0, 1) per channel, and the input is multiplied by
    its gates. The computation is ``SELayer``'s; this class adds
    :meth:`channel_weights` (the gates alone, so that the RFM block can fuse
    the gating with its residual sum), keeps one hidden channel where
    ``C < ratio`` (``SELayer`` would build none).

    Args:
        channels (int): Number of input (and output) channels ``C``.
        ratio (int): Channel reduction ratio of the bottleneck; the hidden
            width is ``max(1, C // ratio)``. Defaults to 16.

    Note:
        - B: batch size
        - C: channels
        - H, W: feature height and width
    """

    def __init__(self, channels: int, ratio: int = 16):
        if ratio < 1:
            raise ValueError(f'SEBlock: ratio must be >= 1, got {ratio}')
        # SELayer's hidden width is int(channels / ratio); a ratio capped at
        # channels gives channels // ratio, and 1 where channels < ratio.
        super().__init__(channels, ratio=min(ratio, channels))
        self.channels = channels
        self.ratio = ratio

    def channel_weights(self, x: Tensor) -> Tensor:
        """The per-channel gates.

        Args:
            x (Tensor): Input of shape (B, C, H, W).

        Returns:
            Tensor: Gates in (0, 1) of shape (B, C, 1, 1).
        """
        return self.conv2(self.conv1(self.global_avgpool(x)))

    def forward(self, x: Tensor) -> Tensor:
        """Re-weight the channels.

        Args:
            x (Tensor): Input of shape (B, C, H, W).

        Returns:
            Tensor: ``x * gates``, shape (B, C, H, W).
        """
        return x * self.channel_weights(x)
