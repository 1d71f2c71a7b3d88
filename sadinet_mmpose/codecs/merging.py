"""Test-time merging: decode sources, the flip test and the multi-scale test.

Every step between the network's outputs and the decoder is defined here
once and used by :class:`~sadinet_mmpose.models.DLMHead`,
:class:`~sadinet_mmpose.models.MSTopdownPoseEstimator` and the ONNX runtime
in :mod:`sadinet_mmpose.deploy`. Each function takes numpy arrays or torch
tensors and returns the same kind, so the PyTorch path stays on its device
and the runtime needs no PyTorch; the tests check both kinds against each
other and against MMPose's ``flip_heatmaps`` / ``flip_coordinates``.

Frames: a heatmap or crop point ``u`` of the crop at box scale ``s`` lies at
``c + s (u - c)`` in the scale-1 crop, ``c`` the crop centre (``W / 2`` on
MMPose's affine grid, ``(W - 1) / 2`` with UDP).

Note:
    - B: batch size, K: keypoints, H, W: heatmap size
    - labels (``mu_hat``) and sigmas (``sigma_hat``) are fractions of the
      crop side, shape (B, K, 2)
"""
from typing import Sequence

import numpy as np

#: What a DLM head can decode its keypoints from: the heatmap H1, the
#: regressed ``mu_hat``, or the blend ``(1 - chi) H1 + chi H2``.
DECODE_SOURCES = ('h1', 'mu', 'blend')


def check_decode_source(source: str, where: str) -> str:
    """Return ``source`` if it is one of :data:`DECODE_SOURCES`.

    Args:
        source (str): The decode source.
        where (str): The config key it came from, for the message.

    Returns:
        str: ``source``.
    """
    if source not in DECODE_SOURCES:
        raise ValueError(f'{where} must be one of {DECODE_SOURCES}, '
                         f'got {source!r}')
    return source


def _is_numpy(x) -> bool:
    return isinstance(x, np.ndarray)


def _copy(x):
    return x.copy() if _is_numpy(x) else x.clone()


def blend_heatmaps(h1, h2, sigmas):
    """The blended map ``(1 - chi) H1 + chi H2``, ``chi`` = mean sigma.

    Args:
        h1: H1 in shape (B, K, H, W).
        h2: H2 in shape (B, K, H, W).
        sigmas: ``sigma_hat`` in shape (B, K, 2); ``chi`` is its mean over
            the two axes, clipped to [0, 1].

    Returns:
        The blended maps, (B, K, H, W).
    """
    chi = sigmas.mean(-1).clip(0., 1.)[..., None, None]
    return (1 - chi) * h1 + chi * h2


def flip_back_heatmaps(heatmaps, flip_indices: Sequence[int], shift: bool):
    """Heatmaps of mirrored crops back to the original frame.

    MMPose's ``flip_heatmaps(flip_mode='heatmap')``: mirror along x, swap
    the symmetric joints and, with ``shift``, move every column one pixel
    right (the first column keeps its value).

    Args:
        heatmaps: (B, K, H, W).
        flip_indices (Sequence[int]): The symmetric joint of each joint.
        shift (bool): Shift by one pixel.

    Returns:
        A new (B, K, H, W) array or tensor.
    """
    idx = list(flip_indices)
    if _is_numpy(heatmaps):
        out = heatmaps[:, :, :, ::-1][:, idx].copy()
    else:
        out = heatmaps.flip(-1)[:, idx]
    if shift:
        out[..., 1:] = _copy(out[..., :-1])
    return out


def flip_back_labels(labels, flip_indices: Sequence[int], shift: bool,
                     input_width: int):
    """Labels of mirrored crops back to the original frame.

    MMPose's ``flip_coordinates`` for normalised coordinates: ``x -> 1 -
    x`` (minus ``1 / input_width`` with ``shift``), symmetric joints
    swapped.

    Args:
        labels: (B, K, 2) in fractions of the crop side.
        flip_indices (Sequence[int]): The symmetric joint of each joint.
        shift (bool): Shift by one input pixel.
        input_width (int): The crop width ``w``.

    Returns:
        A new (B, K, 2) array or tensor.
    """
    out = _copy(labels)
    out[..., 0] = 1. - out[..., 0]
    if shift:
        out[..., 0] -= 1. / input_width
    return out[:, list(flip_indices)]


def flip_back_sigmas(sigmas, flip_indices: Sequence[int]):
    """Sigmas of mirrored crops back to the original frame (joints
    swapped; a per-axis std does not change under the mirror).

    Args:
        sigmas: (B, K, 2).
        flip_indices (Sequence[int]): The symmetric joint of each joint.

    Returns:
        (B, K, 2).
    """
    return sigmas[:, list(flip_indices)]


def flip_merge(forward, feats, flip_indices: Sequence[int], test_cfg: dict,
               input_width: int):
    """The flip test of a DLM head: the mean of the crop's outputs and the
    mirrored crop's, mapped back.

    Args:
        forward (callable): The head's forward, features -> ``(heatmaps,
            mu, sigma, *scales)`` (torch; the last of the heatmaps is
            merged; further per-axis scales (B, K, 2) merge as sigma).
        feats (list): ``[feats, feats_of_flipped_input]``.
        flip_indices (Sequence[int]): The symmetric joint of each joint.
        test_cfg (dict): ``flip_mode`` (only ``'heatmap'``),
            ``shift_heatmap`` (default False), ``shift_coords`` (default
            True).
        input_width (int): The crop width in input pixels.

    Returns:
        tuple: H1 (B, K, H, W) float32, ``mu`` and ``sigma`` (B, K, 2),
        and the further scales (B, K, 2).
    """
    if not (isinstance(feats, list) and len(feats) == 2):
        raise ValueError('DLMHead: with flip_test, feats must be '
                         '[feats, feats_of_flipped_input]')
    flip_mode = test_cfg.get('flip_mode', 'heatmap')
    if flip_mode != 'heatmap':
        raise ValueError("DLMHead supports flip_mode='heatmap' only, "
                         f'got {flip_mode!r}')
    heatmaps, mu, sigma, *extra = forward(feats[0])
    heatmaps_f, mu_f, sigma_f, *extra_f = forward(feats[1])
    h1 = 0.5 * (
        heatmaps[-1].float() +
        flip_back_heatmaps(heatmaps_f[-1].float(), flip_indices,
                           test_cfg.get('shift_heatmap', False)))
    mu = 0.5 * (
        mu + flip_back_labels(mu_f, flip_indices,
                              test_cfg.get('shift_coords', True), input_width))
    sigma = 0.5 * (sigma + flip_back_sigmas(sigma_f, flip_indices))
    extra = [
        0.5 * (e + flip_back_sigmas(e_f, flip_indices))
        for e, e_f in zip(extra, extra_f)
    ]
    return (h1, mu, sigma, *extra)


def scale_resample_matrix(n: int, scale: float, centre: float) -> np.ndarray:
    """(n, n) weights of bilinear sampling at ``c + (u - c) / s``.

    Row ``u`` holds the weights of the two grid points around ``c + (u -
    c) / s``; points outside the grid get no weight (``grid_sample`` with
    ``align_corners=True`` and zero padding).

    Args:
        n (int): Grid length.
        scale (float): The box-size multiplier ``s``.
        centre (float): The grid centre ``c``.

    Returns:
        np.ndarray: (n, n) float64.
    """
    pos = (np.arange(n, dtype=np.float64) - centre) / scale + centre
    lo = np.floor(pos).astype(int)
    frac = pos - lo
    mat = np.zeros((n, n), dtype=np.float64)
    rows = np.arange(n)
    ok0 = (lo >= 0) & (lo < n)
    ok1 = (lo + 1 >= 0) & (lo + 1 < n)
    mat[rows[ok0], lo[ok0]] += 1. - frac[ok0]
    mat[rows[ok1], lo[ok1] + 1] += frac[ok1]
    return mat


def merge_scale_heatmaps(heatmaps: Sequence,
                         scales: Sequence[float],
                         centre_offset=0.):
    """Average heatmaps of several box scales on the scale-1 grid.

    Each scale's map is sampled bilinearly at ``c + (u - c) / s`` (two
    small matrix products, see :func:`scale_resample_matrix`); every grid
    point is the coverage-weighted mean over the scales whose crop sees it
    (the scale-1 crop sees every point).

    Args:
        heatmaps (Sequence): One (B, K, H, W) array or tensor per scale.
        scales (Sequence[float]): The box-size multiplier of each; must
            contain 1.0.
        centre_offset (float | tuple): ``c = side / 2 - centre_offset``, one
            number or ``(x, y)``; see
            :func:`~sadinet_mmpose.codecs.decoding.crop_centre_offset`.
            Defaults to 0 (MMPose's affine crop on a ``u * W / w`` grid).

    Returns:
        The merged maps, (B, K, H, W), of the inputs' kind (float32 for
        numpy, the inputs' dtype and device for tensors).
    """
    if len(heatmaps) != len(scales) or 1.0 not in [float(s) for s in scales]:
        raise ValueError('merge_scale_heatmaps needs one heatmap per scale '
                         f'and the scale 1.0, got {len(heatmaps)} maps for '
                         f'scales {list(scales)}')
    H, W = heatmaps[0].shape[-2:]
    off_x, off_y = (
        centre_offset,
        centre_offset) if np.isscalar(centre_offset) else centre_offset
    total, weight = 0., 0.
    for hm, s in zip(heatmaps, scales):
        s = float(s)
        if s == 1.0:
            total = total + hm
            weight = weight + 1.
            continue
        ay = scale_resample_matrix(H, s, H / 2. - off_y)
        ax = scale_resample_matrix(W, s, W / 2. - off_x)
        cover = np.outer(ay.sum(1), ax.sum(1))
        if _is_numpy(hm):
            total = total + (ay @ hm.astype(np.float64) @ ax.T)
        else:
            import torch
            ay_t, axt_t, cover = (
                torch.as_tensor(m, dtype=hm.dtype, device=hm.device)
                for m in (ay, ax.T.copy(), cover))
            total = total + ay_t @ hm @ axt_t
        weight = weight + cover
    out = total / weight
    return out.astype(np.float32) if _is_numpy(out) else out


def merge_scale_points(points: Sequence, scales: Sequence[float], centre):
    """Average points of several box scales in the scale-1 crop's frame.

    Args:
        points (Sequence): One (B, K, 2) array or tensor per scale, each in
            its own crop's frame.
        scales (Sequence[float]): The box-size multiplier of each.
        centre: The crop centre in the points' units, broadcastable to
            (B, K, 2) (e.g. ``(0.5, 0.5)`` for labels).

    Returns:
        The mean of ``c + s (p_s - c)``, (B, K, 2).
    """
    total = 0.
    for p, s in zip(points, scales):
        total = total + (p - centre) * float(s)
    return total / len(points) + centre


def merge_scale_sigmas(sigmas: Sequence, scales: Sequence[float]):
    """Average per-axis stds of several box scales in the scale-1 crop's
    frame (``sigma`` of the scale-``s`` crop is ``s sigma`` there).

    Args:
        sigmas (Sequence): One (B, K, 2) array or tensor per scale.
        scales (Sequence[float]): The box-size multiplier of each.

    Returns:
        (B, K, 2).
    """
    total = 0.
    for sg, s in zip(sigmas, scales):
        total = total + sg * float(s)
    return total / len(sigmas)
