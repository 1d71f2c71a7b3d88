"""MMPose's top-down test preprocessing in numpy and OpenCV only.

What ``GetBBoxCenterScale`` + ``TopdownAffine`` (+ the extra crops of
:class:`~sadinet_mmpose.datasets.transforms.MultiScaleTopdownAffine`) and
``PoseDataPreprocessor`` do to one person box at test time, and the way back
from crop pixels to image pixels (``TopdownPoseEstimator.
add_pred_to_datasample``), for :class:`~sadinet_mmpose.deploy.
OnnxPoseEstimator`. The crop matrix is built from the same three float32
point pairs as MMPose's ``get_warp_matrix`` (no rotation, no shift), so the
crops are identical to the pipeline's.

Note:
    - N: number of boxes, h, w: crop (input) size
"""
from typing import Sequence, Tuple

import cv2
import numpy as np


def check_image(image: np.ndarray) -> np.ndarray:
    """Check that ``image`` is what ``cv2.imread`` gives: HxWx3 uint8 BGR.

    Args:
        image (np.ndarray): The image.

    Returns:
        np.ndarray: The image, unchanged.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or \
            image.shape[2] != 3 or image.dtype != np.uint8 or \
            image.shape[0] == 0 or image.shape[1] == 0:
        desc = (f'shape {image.shape}, dtype {image.dtype}' if isinstance(
            image, np.ndarray) else type(image).__name__)
        raise ValueError('image: expected an HxWx3 uint8 BGR array (as '
                         f'cv2.imread gives), got {desc}')
    return image


def check_boxes(boxes,
                image_shape: Tuple[int, int],
                bbox_format: str = 'xyxy') -> np.ndarray:
    """Validate person boxes and return them as (N, 4) ``xyxy`` float32.

    A box must have finite corners, a positive width and height, and
    overlap the image (boxes that reach past the border are fine: the crop
    is padded with zeros, as in MMPose).

    Args:
        boxes (array-like): Shape (4,) or (N, 4).
        image_shape (tuple): The image's ``(height, width)``.
        bbox_format (str): ``'xyxy'`` or ``'xywh'``. Defaults to ``'xyxy'``.

    Returns:
        np.ndarray: Boxes ``(x1, y1, x2, y2)`` in shape (N, 4), float32.
    """
    if bbox_format not in ('xyxy', 'xywh'):
        raise ValueError(f"bbox_format must be 'xyxy' or 'xywh', got "
                         f'{bbox_format!r}')
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] == 0:
        raise ValueError(f'boxes: expected shape (4,) or (N, 4), got '
                         f'{np.shape(boxes)}')
    if bbox_format == 'xywh':
        arr = np.concatenate([arr[:, :2], arr[:, :2] + arr[:, 2:]], axis=1)
    H, W = image_shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(arr):
        name = f'box {i} [{x1:g}, {y1:g}, {x2:g}, {y2:g}] (xyxy)'
        if not np.isfinite(arr[i]).all():
            raise ValueError(f'{name} is not finite')
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f'{name} has no area (x2 <= x1 or y2 <= y1)')
        if x2 <= 0 or y2 <= 0 or x1 >= W or y1 >= H:
            raise ValueError(f'{name} lies outside the image of width {W} '
                             f'and height {H}')
    return arr.astype(np.float32)


def box_center_scale(boxes: np.ndarray,
                     input_size: Sequence[int],
                     padding: float = 1.25) -> Tuple[np.ndarray, np.ndarray]:
    """Centre and size of each crop window in the image.

    ``GetBBoxCenterScale(padding)`` then ``TopdownAffine``'s aspect-ratio
    fix (the shorter side grows to the input's aspect ratio).

    Args:
        boxes (np.ndarray): Shape (N, 4), ``xyxy``.
        input_size (Sequence[int]): The crop size ``(w, h)``.
        padding (float): Box enlargement. Defaults to 1.25.

    Returns:
        tuple: centres (N, 2) and window sizes ``(w, h)`` (N, 2) in image
        pixels.
    """
    boxes = np.asarray(boxes)
    scale = (boxes[:, 2:] - boxes[:, :2]) * padding
    center = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    aspect = input_size[0] / input_size[1]
    w, h = scale[:, :1], scale[:, 1:]
    scale = np.where(w > h * aspect, np.hstack([w, w / aspect]),
                     np.hstack([h * aspect, h]))
    return center, scale


def warp_matrix(center: np.ndarray, scale: np.ndarray,
                input_size: Sequence[int]) -> np.ndarray:
    """The 2x3 affine matrix from the image to the crop (no rotation).

    Args:
        center (np.ndarray): Window centre, shape (2,).
        scale (np.ndarray): Window size ``(w, h)``, shape (2,).
        input_size (Sequence[int]): The crop size ``(w, h)``.

    Returns:
        np.ndarray: The matrix, shape (2, 3), float64 (as
        ``cv2.getAffineTransform``).
    """

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]], dtype=np.float32)

    dst_w, dst_h = input_size
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([scale[0] * -0.5, 0.])
    src[2] = third(src[0], src[1])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + [dst_w * -0.5, 0.]
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def crop(image: np.ndarray, center: np.ndarray, scale: np.ndarray,
         input_size: Sequence[int]) -> np.ndarray:
    """Crop one window as ``TopdownAffine`` (bilinear, zero border).

    Args:
        image (np.ndarray): HxWx3 uint8 BGR.
        center (np.ndarray): Window centre (2,).
        scale (np.ndarray): Window size (2,).
        input_size (Sequence[int]): The crop size ``(w, h)``.

    Returns:
        np.ndarray: The crop, (h, w, 3) uint8 BGR.
    """
    w, h = int(input_size[0]), int(input_size[1])
    return cv2.warpAffine(
        image,
        warp_matrix(center, scale, input_size), (w, h),
        flags=cv2.INTER_LINEAR)


def normalize(crops: np.ndarray,
              mean: Sequence[float],
              std: Sequence[float],
              bgr_to_rgb: bool = True) -> np.ndarray:
    """``PoseDataPreprocessor``: channel order, float, mean/std, NCHW.

    Args:
        crops (np.ndarray): (N, h, w, 3) uint8 BGR.
        mean (Sequence[float]): Per-channel mean (of the model's order).
        std (Sequence[float]): Per-channel std.
        bgr_to_rgb (bool): Swap BGR to RGB first. Defaults to True.

    Returns:
        np.ndarray: (N, 3, h, w) float32, contiguous.
    """
    x = crops[..., ::-1] if bgr_to_rgb else crops
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)
    mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x - mean) / std)


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray,
                  input_size: Sequence[int]) -> np.ndarray:
    """Crop pixels to image pixels (``add_pred_to_datasample``).

    Args:
        points (np.ndarray): (N, K, 2) in crop pixels.
        center (np.ndarray): (N, 2) window centres.
        scale (np.ndarray): (N, 2) window sizes.
        input_size (Sequence[int]): The crop size ``(w, h)``.

    Returns:
        np.ndarray: (N, K, 2) in image pixels, float32.
    """
    size = np.asarray(input_size, dtype=np.float64)
    out = (
        points / size * scale[:, None] + center[:, None] -
        0.5 * scale[:, None])
    return out.astype(np.float32)
