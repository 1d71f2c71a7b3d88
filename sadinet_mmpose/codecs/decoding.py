"""Heatmap and label decoding in numpy and OpenCV only (no torch, no MMPose).

The numpy half of :class:`~sadinet_mmpose.codecs.FlowHeatmapCodec`'s
decoding lives here so that the ONNX runtime in
:mod:`sadinet_mmpose.deploy` decodes with the very same functions on a
machine without PyTorch or MMPose. The maths is MMPose's
(``mmpose/codecs/utils/post_processing.py`` and ``refinement.py``:
``get_heatmap_maximum``, ``gaussian_blur``, ``refine_keypoints`` and
``refine_keypoints_dark``), written for a whole batch at once; the tests
check it against those functions.

Note:
    - B: batch size, K: keypoints, H, W: heatmap height and width
    - coordinates are ``(x, y)`` with pixel centres at integers
    - the heatmap grid is aligned to pixel centres: heatmap pixel ``j``
      covers the input pixels around ``(j + 0.5) * w / W - 0.5``, so a flip
      of the input (``u -> w - 1 - u``) is exactly a flip of the heatmap
      (``j -> W - 1 - j``); labels are ``(u + 0.5) / w``, the fraction of the
      crop side at the pixel's centre
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

#: Sub-pixel refinements :func:`decode_heatmaps` knows.
REFINE_MODES = ('dark', 'quarter', 'none')


def heatmap_maxima(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Location and value of each heatmap's maximum.

    As MMPose's ``get_heatmap_maximum``: the first maximum in row-major
    order; locations of maps whose maximum is not positive are ``-1``.

    Args:
        heatmaps (np.ndarray): Shape (..., H, W).

    Returns:
        tuple:
        - locations (np.ndarray): ``(x, y)`` in shape (..., 2), float32.
        - values (np.ndarray): Maxima in shape (...), float32.
    """
    heatmaps = np.asarray(heatmaps)
    *lead, H, W = heatmaps.shape
    flat = heatmaps.reshape(-1, H * W)
    idx = np.argmax(flat, axis=1)
    y, x = np.unravel_index(idx, (H, W))
    locs = np.stack([x, y], axis=-1).astype(np.float32)
    vals = flat[np.arange(flat.shape[0]), idx].astype(np.float32)
    locs[vals <= 0.] = -1
    return locs.reshape(*lead, 2), vals.reshape(lead)


def blur_heatmaps(heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """DARK's modulation: a zero-padded Gaussian blur keeping each maximum.

    Each map is padded by ``kernel_size // 2`` zeros, blurred with OpenCV's
    Gaussian of that size (sigma from the size), cropped back and rescaled
    so that its maximum equals the original's (MMPose's ``gaussian_blur``).

    Args:
        heatmaps (np.ndarray): Shape (..., H, W).
        kernel_size (int): Odd kernel size. Defaults to 11.

    Returns:
        np.ndarray: Blurred float32 heatmaps of the same shape.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f'blur kernel size must be odd, got {kernel_size}')
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    *lead, H, W = heatmaps.shape
    maps = heatmaps.reshape(-1, H, W)
    b = kernel_size // 2
    out = np.empty_like(maps)
    padded = np.zeros((H + 2 * b, W + 2 * b), dtype=np.float32)
    for i, m in enumerate(maps):
        padded[b:b + H, b:b + W] = m
        blurred = cv2.GaussianBlur(padded, (kernel_size, kernel_size), 0)
        out[i] = blurred[b:b + H, b:b + W]
        out[i] *= m.max() / out[i].max()
    return out.reshape(heatmaps.shape)


def _log_derivatives(keypoints: np.ndarray, heatmaps: np.ndarray,
                     blur_kernel_size: int):
    """Central differences of the blurred log-heatmap at integer maxima:
    ``ok`` (away from the border), ``dx``, ``dy``, ``dxx``, ``dyy``,
    ``dxy``, each (M,) over the flattened leading shape."""
    H, W = heatmaps.shape[-2:]
    logm = np.log(
        np.maximum(blur_heatmaps(heatmaps, blur_kernel_size),
                   1e-10)).reshape(-1, H, W)
    kpts = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)
    x, y = kpts[:, 0].astype(int), kpts[:, 1].astype(int)
    ok = (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2)
    n = np.arange(len(kpts))
    xc, yc = np.clip(x, 2, W - 3), np.clip(y, 2, H - 3)

    def at(dy, dx):
        return logm[n, yc + dy, xc + dx]

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    return ok, dx, dy, dxx, dyy, dxy


def refine_dark(keypoints: np.ndarray,
                heatmaps: np.ndarray,
                blur_kernel_size: int = 11) -> np.ndarray:
    """DARK sub-pixel refinement (one Newton step on the log-heatmap).

    Derivatives are central differences on the blurred log-heatmap (see
    :func:`blur_heatmaps`); keypoints within 2 pixels of the border, or
    whose Hessian is singular, are left as they are.

    Args:
        keypoints (np.ndarray): Integer maxima ``(x, y)``, shape (..., 2).
        heatmaps (np.ndarray): Shape (..., H, W), same leading shape.
        blur_kernel_size (int): See :func:`blur_heatmaps`. Defaults to 11.

    Returns:
        np.ndarray: Refined keypoints (float32, a new array), shape (..., 2).
    """
    ok, dx, dy, dxx, dyy, dxy = _log_derivatives(keypoints, heatmaps,
                                                 blur_kernel_size)
    kpts = np.array(keypoints, dtype=np.float32).reshape(-1, 2)
    det = dxx * dyy - dxy * dxy
    ok &= det != 0
    safe = np.where(ok, det, 1.)
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(-dxy * dx + dxx * dy) / safe
    kpts[ok] += np.stack([off_x, off_y], axis=-1)[ok]
    return kpts.reshape(np.shape(keypoints))


def peak_scales(keypoints: np.ndarray,
                heatmaps: np.ndarray,
                blur_kernel_size: int = 11,
                fallback: float = np.inf) -> np.ndarray:
    """Per-axis scales of the local Gaussian of each heatmap peak.

    The blurred log-heatmap's Hessian at the integer maximum (the one DARK
    refines with) is that of a Gaussian of covariance ``-Hessian^-1``; the
    scales are the square roots of its diagonal, in heatmap pixels. The
    blur widens the peak by the kernel's own scale (2 px at size 11);
    ``blur_kernel_size=1`` leaves the map as it is.

    Args:
        keypoints (np.ndarray): Integer maxima ``(x, y)``, shape (..., 2).
        heatmaps (np.ndarray): Shape (..., H, W), same leading shape.
        blur_kernel_size (int): See :func:`blur_heatmaps`. Defaults to 11.
        fallback (float): The scale where the peak is within 2 pixels of the
            border or its Hessian is not negative definite. Defaults to inf.

    Returns:
        np.ndarray: Scales ``(sigma_x, sigma_y)`` (float64), shape (..., 2).
    """
    ok, _, _, dxx, dyy, dxy = _log_derivatives(keypoints, heatmaps,
                                               blur_kernel_size)
    dxx, dyy, dxy = (v.astype(np.float64) for v in (dxx, dyy, dxy))
    det = dxx * dyy - dxy * dxy
    ok &= (dxx < 0) & (det > 0)
    safe = np.where(ok, det, 1.)
    # the diagonal of -H^-1 = [[-dyy, dxy], [dxy, -dxx]] / det
    var = np.stack([-dyy / safe, -dxx / safe], axis=-1)
    out = np.where(ok[:, None], np.sqrt(np.abs(var)), fallback)
    return out.reshape(np.shape(keypoints))


def refine_quarter(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """The classic quarter-pixel shift towards the higher neighbour.

    Args:
        keypoints (np.ndarray): Integer maxima ``(x, y)``, shape (..., 2).
        heatmaps (np.ndarray): Shape (..., H, W), same leading shape.

    Returns:
        np.ndarray: Refined keypoints (float32, a new array), shape (..., 2).
    """
    H, W = heatmaps.shape[-2:]
    maps = np.asarray(heatmaps).reshape(-1, H, W)
    kpts = np.array(keypoints, dtype=np.float32).reshape(-1, 2)
    x, y = kpts[:, 0].astype(int), kpts[:, 1].astype(int)
    n = np.arange(len(kpts))
    # the bounds of MMPose's refine_keypoints, one axis at a time
    okx = (x > 1) & (x < W - 1) & (y > 0) & (y < H)
    oky = (y > 1) & (y < H - 1) & (x > 0) & (x < W)

    def at(yy, xx):
        return maps[n, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]

    gx = np.where(okx, at(y, x + 1) - at(y, x - 1), 0.)
    gy = np.where(oky, at(y + 1, x) - at(y - 1, x), 0.)
    kpts += 0.25 * np.sign(np.stack([gx, gy], axis=-1)).astype(np.float32)
    return kpts.reshape(np.shape(keypoints))


def decode_heatmaps(heatmaps: np.ndarray,
                    refine: str = 'dark',
                    blur_kernel_size: int = 11
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Keypoints and scores from heatmaps, on the heatmap grid.

    Args:
        heatmaps (np.ndarray): Shape (B, K, H, W) (or any (..., H, W)).
        refine (str): ``'dark'``, ``'quarter'`` or ``'none'``. Defaults to
            ``'dark'``.
        blur_kernel_size (int): DARK's blur kernel. Defaults to 11.

    Returns:
        tuple:
        - keypoints (np.ndarray): ``(x, y)`` in heatmap pixels, shape
          (B, K, 2); ``-1`` where the score is not positive.
        - scores (np.ndarray): Heatmap maxima in shape (B, K).
    """
    if refine not in REFINE_MODES:
        raise ValueError(f'refine must be one of {REFINE_MODES}, '
                         f'got {refine!r}')
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    keypoints, scores = heatmap_maxima(heatmaps)
    if refine == 'dark':
        keypoints = refine_dark(keypoints, heatmaps, blur_kernel_size)
    elif refine == 'quarter':
        keypoints = refine_quarter(keypoints, heatmaps)
    keypoints[scores <= 0] = -1
    return keypoints, scores


def input_to_heatmap(points, input_size: Sequence[int],
                     heatmap_size: Sequence[int]):
    """Input-crop pixels to heatmap pixels, pixel centres aligned.

    Args:
        points: ``(x, y)`` in input pixels, shape (..., 2) (numpy or torch).
        input_size (Sequence[int]): The crop size ``(w, h)``.
        heatmap_size (Sequence[int]): The heatmap size ``(W, H)``.

    Returns:
        ``(u + 0.5) * W / w - 0.5`` per axis, the points' kind.
    """
    return (points + 0.5) / _like(_stride(input_size, heatmap_size),
                                  points) - 0.5


def heatmap_to_input(points, input_size: Sequence[int],
                     heatmap_size: Sequence[int]):
    """Heatmap pixels to input-crop pixels (inverse of
    :func:`input_to_heatmap`)."""
    return (points + 0.5) * _like(_stride(input_size, heatmap_size),
                                  points) - 0.5


def input_to_labels(points, input_size: Sequence[int]):
    """Input-crop pixels to labels (fractions of the side at the pixel
    centre): ``(u + 0.5) / w``."""
    return (points + 0.5) / _like(np.asarray(input_size, np.float32), points)


def heatmap_grid(codec) -> str:
    """How ``codec`` places input pixels on its heatmap: ``'centre'``
    (pixel centres aligned, :func:`input_to_heatmap`; FlowHeatmapCodec) or
    ``'corner'`` (``u * W / w``, MMPose's MSRAHeatmap and most codecs)."""
    return 'centre' if getattr(codec, 'pixel_centre_aligned', False) \
        else 'corner'


def heatmap_points_to_input(points, input_size: Sequence[int],
                            heatmap_size: Sequence[int], grid: str):
    """Heatmap pixels to input pixels on either grid (see
    :func:`heatmap_grid`)."""
    if grid == 'centre':
        return heatmap_to_input(points, input_size, heatmap_size)
    return points * _like(_stride(input_size, heatmap_size), points)


def crop_centre_offset(input_size: Sequence[int],
                       heatmap_size: Sequence[int],
                       grid: str,
                       use_udp: bool = False) -> Tuple[float, float]:
    """Where the crop centre lies on the heatmap, as ``side / 2 - c``.

    MMPose's affine crop maps the box centre to input pixel ``w / 2``
    (``(w - 1) / 2`` with UDP); the multi-scale merge scales about that
    point (:func:`~sadinet_mmpose.codecs.merging.merge_scale_heatmaps`).

    Returns:
        tuple: The offset ``(W / 2 - c_x, H / 2 - c_y)`` in heatmap pixels.
    """
    size = np.asarray(input_size, np.float64)
    hm = np.asarray(heatmap_size, np.float64)
    c_in = (size - 1.) / 2. if use_udp else size / 2.
    if grid == 'centre':
        c = (c_in + 0.5) * hm / size - 0.5
    elif use_udp:  # MMPose's UDP codecs: u * (W - 1) / (w - 1)
        c = (hm - 1.) / 2.
    else:
        c = c_in * hm / size
    off = hm / 2. - c
    return float(off[0]), float(off[1])


def _stride(input_size: Sequence[int], heatmap_size: Sequence[int]):
    """Input pixels per heatmap pixel, ``(w / W, h / H)``."""
    return np.asarray(input_size, np.float32) / np.asarray(
        heatmap_size, np.float32)


def _like(array: np.ndarray, ref):
    """``array`` as ``ref``'s kind (a tensor on ``ref``'s device)."""
    if isinstance(ref, np.ndarray) or np.isscalar(ref):
        return array
    import torch
    return torch.as_tensor(array, dtype=ref.dtype, device=ref.device)


def labels_to_input(labels: np.ndarray,
                    input_size: Sequence[int],
                    sigmas: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Labels (e.g. ``mu_hat``) to input-crop pixels: ``label * w - 0.5``.

    Args:
        labels (np.ndarray): Shape (N, K, 2), fractions of the side (see
            :func:`input_to_labels`).
        input_size (Sequence[int]): The crop size ``(w, h)``.
        sigmas (np.ndarray, optional): ``sigma_hat`` (N, K, 2); gives the
            scores ``1 - mean(sigma)`` (as RLE), clipped to [0, 1].
            Defaults to None (scores of 1).

    Returns:
        tuple:
        - keypoints (np.ndarray): In input pixels, shape (N, K, 2).
        - scores (np.ndarray): Shape (N, K).
    """
    labels = np.asarray(labels)
    keypoints = labels * np.asarray(input_size, dtype=np.float32) - 0.5
    if sigmas is None:
        scores = np.ones(labels.shape[:2], dtype=np.float32)
    else:
        scores = np.clip(1. - np.asarray(sigmas).mean(-1), 0., 1.)
    return keypoints.astype(np.float32), scores.astype(np.float32)


def sigmas_to_input(sigmas: np.ndarray,
                    input_size: Sequence[int]) -> np.ndarray:
    """``sigma_hat`` (fractions of the side) to input-crop pixels.

    Args:
        sigmas (np.ndarray): Shape (N, K, 2).
        input_size (Sequence[int]): The crop size ``(w, h)``.

    Returns:
        np.ndarray: Per-axis std in input pixels, shape (N, K, 2), float32.
    """
    return (np.asarray(sigmas) *
            np.asarray(input_size, dtype=np.float32)).astype(np.float32)
