"""A dilated convolution computed as an undilated one on polyphase images."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor


def _split_phases(x: Tensor, d: int) -> Tensor:
    """(B, C, H, W) with H, W divisible by d -> (d*d*B, C, H/d, W/d).

    Phase ``(p, q)`` (batch block ``p * d + q``) holds ``x[..., p::d, q::d]``.
    The result keeps ``x``'s memory format (one copy either way).
    """
    b, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and c > 1:
        xs = x.permute(0, 2, 3, 1).reshape(b, h // d, d, w // d, d, c)
        xs = xs.permute(2, 4, 0, 1, 3, 5).reshape(d * d * b, h // d, w // d, c)
        return xs.permute(0, 3, 1, 2)
    xs = x.reshape(b, c, h // d, d, w // d, d).permute(3, 5, 0, 1, 2, 4)
    return xs.reshape(d * d * b, c, h // d, w // d)


def _merge_phases(y: Tensor, d: int) -> Tensor:
    """Inverse of :func:`_split_phases`: (d*d*B, C, h, w) -> (B, C, h*d, w*d)."""
    n, c, h, w = y.shape
    b = n // (d * d)
    if y.is_contiguous(memory_format=torch.channels_last) and c > 1:
        ys = y.permute(0, 2, 3, 1).reshape(d, d, b, h, w, c)
        ys = ys.permute(2, 3, 0, 4, 1, 5).reshape(b, h * d, w * d, c)
        return ys.permute(0, 3, 1, 2)
    ys = y.reshape(d, d, b, c, h, w).permute(2, 3, 4, 0, 5, 1)
    return ys.reshape(b, c, h * d, w * d)


def phase_conv2d(x: Tensor, weight: Tensor, bias, stride: int, dilation: int,
                 groups: int = 1) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding=dilation*(k-1)/2,
    dilation)`` computed without dilation.

    A 'same'-padded k x k convolution with dilation ``d`` only combines
    pixels whose coordinates agree modulo ``d``. With stride 1 it is an
    undilated convolution (padding ``(k-1)/2``) over the ``d*d`` polyphase
    sub-images ``x[..., p::d, q::d]``, run as one batch, whose outputs are
    interleaved back; with stride ``d`` only the ``(0, 0)`` phase is read.
    The products and sums are those of the dilated convolution (zeros of
    the padding included), only the kernels that compute them differ.

    Args:
        x (Tensor): Input of shape (B, C_in, H, W), any H, W (odd sizes are
            zero-padded to a multiple of ``d`` and the output cropped, which
            reads the same zeros as the convolution's padding).
        weight (Tensor): (C_out, C_in / groups, k, k), k odd.
        bias (Tensor, optional): (C_out,).
        stride (int): 1 or ``dilation``.
        dilation (int): ``d`` >= 2.
        groups (int): As ``F.conv2d``. Defaults to 1.

    Returns:
        Tensor: (B, C_out, H', W'), equal to the dilated convolution's output.
    """
    k = weight.shape[-1]
    d = dilation
    pad = (k - 1) // 2
    if stride == d:
        return F.conv2d(x[..., ::d, ::d], weight, bias, 1, pad, 1, groups)
    if stride != 1:
        raise ValueError(f'phase_conv2d: stride must be 1 or the dilation '
                         f'{d}, got {stride}')
    h, w = x.shape[-2:]
    hp, wp = math.ceil(h / d) * d, math.ceil(w / d) * d
    if (hp, wp) != (h, w):
        x = F.pad(x, (0, wp - w, 0, hp - h))
    y = F.conv2d(_split_phases(x, d), weight, bias, 1, pad, 1, groups)
    y = _merge_phases(y, d)
    if (hp, wp) != (h, w):
        y = y[..., :h, :w]
    return y


# in mmengine's root registry, like mmcv's conv layers: build_conv_layer finds
# it with or without MMPose's default scope
@MODELS.register_module()
class PhaseConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose dilated, 'same'-padded form runs as an undilated
    convolution on polyphase sub-images (see :func:`phase_conv2d`).

    Same arguments, parameters and results as ``nn.Conv2d`` (its weights and
    checkpoints are interchangeable with a ``Conv2d``'s); a GPU's convolution
    libraries often have faster kernels for undilated convolutions than for
    dilated ones. The layout changes cost one copy of the input and one of
    the output (and of their gradients). Layers it does not cover fall back
    to ``nn.Conv2d.forward``: no dilation, square dilation/stride/kernel
    only, padding ``dilation * (k - 1) / 2``, stride 1 or equal to the
    dilation, zero padding mode; and under tracing (``torch.compile``, FLOP
    counters), which then see one plain dilated convolution.

    Use it for a dilated branch through the conv config, e.g.
    ``RFMHourglass(branch_conv_cfg=dict(type='PhaseConv2d'))``.

    Note:
        - B: batch size; C_in, C_out: channels; H, W: input size
    """

    def _phase_applicable(self) -> bool:
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        (sh, sw) = self.stride
        if isinstance(self.padding, str):
            return False
        return (kh == kw and kh % 2 == 1 and dh == dw and dh > 1
                and sh == sw and sh in (1, dh)
                and tuple(self.padding) == (dh * (kh - 1) // 2, ) * 2
                and self.padding_mode == 'zeros')

    def forward(self, x: Tensor) -> Tensor:
        """Convolve.

        Args:
            x (Tensor): Input of shape (B, C_in, H, W).

        Returns:
            Tensor: Output of shape (B, C_out, H', W'), as ``nn.Conv2d``.
        """
        if (x.dim() != 4 or torch.compiler.is_compiling()
                or torch.jit.is_tracing() or not self._phase_applicable()):
            return super().forward(x)
        return phase_conv2d(x, self.weight, self.bias, self.stride[0],
                            self.dilation[0], self.groups)
