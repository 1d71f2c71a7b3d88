"""Bilinear and area resizing written as matrix products and pooling.

PyTorch's ``F.interpolate(mode='bilinear')`` kernel for contiguous (NCHW)
CUDA tensors gives each thread one output pixel and loops over batch and
channels (its cost is measured in ``benchmarks/README.md``). Bilinear
resizing is linear and separable, so it equals ``A_h @ x @ A_w^T`` with two
small interpolation matrices taken from ``F.interpolate`` itself; that runs
as two GEMMs. Area resizing to an exact fraction of the size is a plain
average pool.

The functions here compute the same map as ``F.interpolate`` (equal up to
float rounding: the two terms of each bilinear sum are added in another
order). Tensors in ``channels_last`` memory format are resized the same way
on their (B, H, W, C) memory (batched GEMMs, no atomic adds in the
backward pass, unlike the NHWC interpolation kernel's).
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

_MATRIX_CACHE: Dict[Tuple, Tensor] = {}
_CACHE_LIMIT = 64


def bilinear_matrix(in_size: int, out_size: int, device=None,
                    dtype: torch.dtype = torch.float32) -> Tensor:
    """The matrix of 1-D bilinear resizing, ``align_corners=False``.

    Row ``p`` holds the weights ``F.interpolate`` gives to the input samples
    for output sample ``p`` (clamped at the borders as PyTorch does); each
    row sums to 1. Built once per (sizes, device, dtype) in float64 and
    cached.

    Args:
        in_size (int): Input length n.
        out_size (int): Output length m.
        device (torch.device | str, optional): Device of the result.
        dtype (torch.dtype): Dtype of the result. Defaults to float32.

    Returns:
        Tensor: Matrix A of shape (m, n) with ``resize(x) = A @ x``.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError('bilinear_matrix: sizes must be >= 1, got '
                         f'in_size={in_size}, out_size={out_size}')
    key = (in_size, out_size, str(device), dtype)
    matrix = _MATRIX_CACHE.get(key)
    if matrix is None:
        # a normal tensor even when first asked for under inference mode:
        # the cached matrix is later saved for backward in training
        with torch.inference_mode(False), torch.no_grad():
            eye = torch.eye(in_size, dtype=torch.float64)
            # channels = input index, height = signal axis, width 1 -> 1
            rows = F.interpolate(
                eye.view(1, in_size, in_size, 1),
                size=(out_size, 1),
                mode='bilinear',
                align_corners=False)
            matrix = rows[0, :, :, 0].t().contiguous().to(
                device=device, dtype=dtype)
        if len(_MATRIX_CACHE) >= _CACHE_LIMIT:
            _MATRIX_CACHE.pop(next(iter(_MATRIX_CACHE)))
        _MATRIX_CACHE[key] = matrix
    return matrix


def resize_bilinear(x: Tensor, size: Sequence[int]) -> Tensor:
    """``F.interpolate(x, size, mode='bilinear', align_corners=False)``.

    Computed as one matrix product per resized axis, for contiguous (NCHW)
    and channels_last input alike; other strides, and calls inside
    ``torch.compile``, go to ``F.interpolate``.

    Args:
        x (Tensor): Input of shape (B, C, H, W).
        size (Sequence[int]): Output size (H_out, W_out).

    Returns:
        Tensor: Resized map of shape (B, C, H_out, W_out), in the input's
        memory format.
    """
    if x.dim() != 4:
        raise ValueError('resize_bilinear: expects a (B, C, H, W) tensor, '
                         f'got shape {tuple(x.shape)}')
    out_h, out_w = int(size[0]), int(size[1])
    B, C, H, W = x.shape
    if (H, W) == (out_h, out_w):
        return x
    channels_last = (not x.is_contiguous()
                     and x.is_contiguous(memory_format=torch.channels_last))
    if ((not x.is_contiguous() and not channels_last) or x.numel() == 0
            or not x.is_floating_point()
            or torch.compiler.is_compiling() or torch.jit.is_tracing()):
        # other strides / inductor's own fused kernel / FLOP counters (they
        # trace the model and should count the interpolation, not the
        # zeros of the dense matrices)
        return F.interpolate(
            x, size=(out_h, out_w), mode='bilinear', align_corners=False)
    # the dtype the products run in: autocast's, else the input's; casting
    # here keeps autocast from copying the expanded matrices below
    dtype = _matmul_dtype(x)
    if channels_last:
        return _resize_nhwc(x.to(dtype), out_h, out_w)
    out = x.to(dtype)
    if W != out_w:
        # (B*C*H, W) @ (W, W_out): one GEMM over all rows
        a_w = bilinear_matrix(W, out_w, x.device, dtype)
        out = torch.matmul(out, a_w.t())
    if H != out_h:
        # (H_out, H) @ (H, W_out) for each of the B*C maps; the expanded
        # matrix has batch stride 0 (no copy)
        a_h = bilinear_matrix(H, out_h, x.device, dtype)
        maps = out.reshape(B * C, H, out.shape[-1])
        out = torch.bmm(a_h.expand(B * C, out_h, H), maps)
        out = out.view(B, C, out_h, out.shape[-1])
    return out


def _resize_nhwc(x: Tensor, out_h: int, out_w: int) -> Tensor:
    """Bilinear resizing of a channels_last tensor as two batched GEMMs on
    its (B, H, W, C) memory, without copies; returns channels_last."""
    B, C, H, W = x.shape
    y = x.permute(0, 2, 3, 1)  # a contiguous (B, H, W, C) view
    if W != out_w:
        a_w = bilinear_matrix(W, out_w, x.device, x.dtype)
        y = torch.bmm(a_w.expand(B * H, out_w, W), y.reshape(B * H, W, C))
        y = y.view(B, H, out_w, C)
    if H != out_h:
        a_h = bilinear_matrix(H, out_h, x.device, x.dtype)
        y = torch.bmm(a_h.expand(B, out_h, H), y.reshape(B, H, out_w * C))
        y = y.view(B, out_h, out_w, C)
    return y.permute(0, 3, 1, 2)


def _matmul_dtype(x: Tensor) -> torch.dtype:
    """The dtype ``torch.matmul`` runs in for ``x`` (autocast's if on)."""
    device_type = x.device.type
    if (x.dtype != torch.float64 and device_type in ('cuda', 'cpu', 'xpu')
            and torch.is_autocast_enabled(device_type)):
        return torch.get_autocast_dtype(device_type)
    return x.dtype


def resize_area(x: Tensor, size: Sequence[int]) -> Tensor:
    """``F.interpolate(x, size, mode='area')``.

    Where the input size is a whole multiple of ``size`` the average is an
    ``avg_pool2d`` with kernel = stride = the factor (its CUDA backward needs
    no atomic adds, unlike adaptive pooling's); otherwise adaptive average
    pooling, as ``F.interpolate`` does.

    Args:
        x (Tensor): Input of shape (B, C, H, W).
        size (Sequence[int]): Output size (H_out, W_out).

    Returns:
        Tensor: Averaged map of shape (B, C, H_out, W_out).
    """
    out_h, out_w = int(size[0]), int(size[1])
    H, W = x.shape[-2:]
    if (H, W) == (out_h, out_w):
        return x
    if torch.jit.is_tracing():  # FLOP counters: the op they know
        return F.interpolate(x, size=(out_h, out_w), mode='area')
    if out_h and out_w and H % out_h == 0 and W % out_w == 0:
        kernel = (H // out_h, W // out_w)
        return F.avg_pool2d(x, kernel_size=kernel, stride=kernel)
    return F.adaptive_avg_pool2d(x, (out_h, out_w))
