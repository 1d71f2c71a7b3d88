"""The codec of the DLM head: Gaussian heatmaps plus normalised labels."""
from typing import Optional, Tuple

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.codecs.utils import generate_unbiased_gaussian_heatmaps
from mmpose.registry import KEYPOINT_CODECS

from .decoding import (REFINE_MODES, decode_heatmaps, heatmap_to_input,
                       input_to_heatmap, input_to_labels, labels_to_input,
                       sigmas_to_input)


@KEYPOINT_CODECS.register_module()
class FlowHeatmapCodec(BaseKeypointCodec):
    """Encode keypoints for both branches of the DLM head; decode heatmaps.

    Encoding gives the unbiased (DARK) Gaussian heatmaps that supervise H1
    and the keypoints normalised to ``[0, 1]`` of the heatmap side that
    supervise ``mu_hat`` / ``sigma_hat`` (and the flow). Pixel centres are
    aligned (as MMPose's UDP codec): a keypoint at input pixel ``u`` lies at
    heatmap coordinate ``(u + 0.5) * W / w - 0.5`` and has the label ``(u +
    0.5) / w``, so ``label * W - 0.5`` is its heatmap coordinate. A mirror
    of the crop is then exactly a mirror of the heatmap and of the labels:
    the flip test needs no shift (``shift_heatmap=False``,
    ``shift_coords=False``). :class:`mmpose.codecs.MSRAHeatmap` maps ``u``
    to ``u * W / w`` instead, where a mirrored heatmap lands ``w / W - 1``
    input pixels off.

    Note:
        - instance number: N
        - keypoint number: K
        - keypoint dimension: D (2)
        - input size: [w, h]
        - heatmap size: [W, H]

    Encoded:
        - heatmaps (np.ndarray): Gaussian heatmaps in shape (K, H, W).
        - keypoint_labels (np.ndarray): Labels in shape (N, K, 2), in
          ``[0, 1]`` of the input / heatmap side for joints in the crop.
        - keypoint_weights (np.ndarray): Weights in shape (N, K): the
          visibility for visible joints inside the crop
          (``0 <= u <= w - 1``), else 0.

    Args:
        input_size (tuple): Input image size ``(w, h)``.
        heatmap_size (tuple): Heatmap size ``(W, H)``.
        sigma (float): Std of the target Gaussian in heatmap pixels.
            Defaults to 2.0.
        refine (str): Sub-pixel refinement in :meth:`decode`: ``'dark'``
            (DARK's Taylor expansion on the blurred log-heatmap),
            ``'quarter'`` (the classic quarter-pixel shift) or ``'none'``.
            Defaults to ``'dark'``.
        blur_kernel_size (int): Gaussian blur kernel of the DARK modulation;
            11 suits ``sigma=2``. Defaults to 11.
    """

    #: Heatmap pixels are aligned to input pixel centres (see the class
    #: docstring and :func:`~sadinet_mmpose.codecs.decoding.heatmap_grid`).
    pixel_centre_aligned = True

    # PackPoseInputs uses a codec's tables *instead of* its defaults: list
    # every label and field key the DLM head reads (and the default label
    # keys, so nothing else is lost). No instance table: defining one would
    # drop ``head_size`` (PCKh) from the defaults.
    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        keypoint_weights='keypoint_weights',
        keypoints_visible_weights='keypoints_visible_weights',
    )
    field_mapping_table = dict(heatmaps='heatmaps')

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 sigma: float = 2.0,
                 refine: str = 'dark',
                 blur_kernel_size: int = 11) -> None:
        super().__init__()
        if refine not in REFINE_MODES:
            raise ValueError("FlowHeatmapCodec: refine must be 'dark', "
                             f"'quarter' or 'none', got {refine!r}")
        if len(input_size) != 2 or len(heatmap_size) != 2:
            raise ValueError(
                'FlowHeatmapCodec: input_size and heatmap_size must be '
                f'(w, h) pairs, got input_size={input_size}, '
                f'heatmap_size={heatmap_size}')
        if blur_kernel_size % 2 != 1:
            raise ValueError('FlowHeatmapCodec: blur_kernel_size must be odd, '
                             f'got {blur_kernel_size}')
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = sigma
        self.refine = refine
        self.blur_kernel_size = blur_kernel_size
        self._blur_kernels = {}  # (size, device) -> kernel, see _blur_kernel

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints given in input-image pixels.

        Args:
            keypoints (np.ndarray): Keypoints in shape (N, K, 2).
            keypoints_visible (np.ndarray, optional): Visibility in shape
                (N, K). Defaults to all ones.

        Returns:
            dict: ``heatmaps`` (K, H, W), ``keypoint_labels`` (N, K, 2),
            ``keypoint_weights`` (N, K), all float32.
        """
        keypoints = np.asarray(keypoints, dtype=np.float32)[..., :2]
        if keypoints_visible is None:
            keypoints_visible = np.ones(keypoints.shape[:2], np.float32)
        keypoints_visible = np.asarray(keypoints_visible, dtype=np.float32)

        w, h = self.input_size
        with np.errstate(invalid='ignore'):
            in_crop = ((keypoints >= 0) &
                       (keypoints <= np.array([w - 1, h - 1]))).all(-1)
        usable = in_crop & (keypoints_visible > 0.5)
        # invisible or out-of-crop joints are not drawn (they may be NaN)
        heatmaps, _ = generate_unbiased_gaussian_heatmaps(
            heatmap_size=self.heatmap_size,
            keypoints=input_to_heatmap(
                np.where(usable[..., None], keypoints, 0.), self.input_size,
                self.heatmap_size),
            keypoints_visible=usable.astype(np.float32),
            sigma=self.sigma)
        keypoint_weights = np.where(usable, keypoints_visible,
                                    0.).astype(np.float32)
        keypoint_labels = input_to_labels(keypoints,
                                          self.input_size).astype(np.float32)
        return dict(
            heatmaps=heatmaps,
            keypoint_labels=keypoint_labels,
            keypoint_weights=keypoint_weights)

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Decode keypoints from heatmaps (maximum + sub-pixel refinement).

        Args:
            encoded (np.ndarray): Heatmaps in shape (K, H, W).

        Returns:
            tuple:
            - keypoints (np.ndarray): In input pixels, shape (1, K, 2).
            - scores (np.ndarray): Heatmap maxima in shape (1, K).
        """
        heatmaps = np.asarray(encoded, dtype=np.float32)
        K, H, W = heatmaps.shape
        if (W, H) != self.heatmap_size:
            raise ValueError(
                f'FlowHeatmapCodec.decode: got heatmaps of size (W, H)='
                f'{(W, H)} but the codec\'s heatmap_size is '
                f'{self.heatmap_size}')
        keypoints, scores = decode_heatmaps(heatmaps[None], self.refine,
                                            self.blur_kernel_size)
        return heatmap_to_input(keypoints, self.input_size,
                                self.heatmap_size), scores

    def _blur_kernel(self, size: int, device):
        """cv2's 1-D Gaussian kernel of ``size`` on ``device`` (cached: no
        host-to-device copy per call)."""
        import cv2
        import torch
        key = (size, str(device))
        if key not in self._blur_kernels:
            # a normal tensor even when first asked for in inference mode
            with torch.inference_mode(False):
                self._blur_kernels[key] = torch.from_numpy(
                    cv2.getGaussianKernel(size, 0).astype(
                        np.float32)).to(device).reshape(-1)
        return self._blur_kernels[key]

    def batch_decode_tensor(self, heatmaps) -> Tuple[np.ndarray, np.ndarray]:
        """Decode a whole batch on the heatmaps' device (vectorised DARK).

        The same maths as :meth:`decode` (maximum, Gaussian modulation with
        cv2's kernel of ``blur_kernel_size`` and zero padding, log, one
        Newton step with the 2x2 Hessian of central differences; ``quarter``
        and ``none`` as there), for all B x K heatmaps at once instead of a
        Python loop per keypoint: at B=64 on a GPU this is the difference
        between a few milliseconds and about 100 ms.

        Args:
            heatmaps (Tensor): Shape (B, K, H, W), any float dtype.

        Returns:
            tuple:
            - keypoints (np.ndarray): In input pixels, shape (B, K, 2).
            - scores (np.ndarray): Heatmap maxima in shape (B, K).
        """
        import torch
        import torch.nn.functional as F
        hm = heatmaps.detach().float()
        B, K, H, W = hm.shape
        if (W, H) != self.heatmap_size:
            raise ValueError(
                'FlowHeatmapCodec.batch_decode_tensor: got heatmaps of size '
                f'(W, H)={(W, H)} but the codec\'s heatmap_size is '
                f'{self.heatmap_size}')
        flat = hm.reshape(B, K, -1)
        scores, idx = flat.max(-1)
        x = (idx % W).float()
        y = torch.div(idx, W, rounding_mode='floor').float()
        kpts = torch.stack([x, y], -1)
        if self.refine == 'dark':
            k = self.blur_kernel_size
            g = self._blur_kernel(k, hm.device)
            maps = hm.reshape(B * K, 1, H, W)
            blurred = F.conv2d(maps, g.view(1, 1, 1, k), padding=(0, k // 2))
            blurred = F.conv2d(
                blurred, g.view(1, 1, k, 1), padding=(k // 2, 0))
            peak = blurred.flatten(1).max(-1)[0].clamp_min(1e-20)
            blurred = blurred * (maps.flatten(1).max(-1)[0] / peak).view(
                -1, 1, 1, 1)
            logm = blurred.clamp_min(1e-10).log().view(B, K, H, W)
            xi, yi = x.long(), y.long()
            ok = (xi > 1) & (xi < W - 2) & (yi > 1) & (yi < H - 2)
            xc, yc = xi.clamp(2, W - 3), yi.clamp(2, H - 3)
            # the 5x5 neighbourhood of each maximum in one gather:
            # p[..., 2 + dy, 2 + dx] = logm[y + dy, x + dx]
            steps = torch.arange(-2, 3, device=hm.device)
            rel = (steps.view(5, 1) * W + steps.view(1, 5)).reshape(-1)
            lin = (yc * W + xc).unsqueeze(-1) + rel
            p = logm.reshape(B, K, -1).gather(-1, lin).view(B, K, 5, 5)
            c = p[..., 2, 2]
            dx = 0.5 * (p[..., 2, 3] - p[..., 2, 1])
            dy = 0.5 * (p[..., 3, 2] - p[..., 1, 2])
            dxx = 0.25 * (p[..., 2, 4] - 2 * c + p[..., 2, 0])
            dyy = 0.25 * (p[..., 4, 2] - 2 * c + p[..., 0, 2])
            dxy = 0.25 * (
                p[..., 3, 3] - p[..., 1, 3] - p[..., 3, 1] + p[..., 1, 1])
            det = dxx * dyy - dxy * dxy
            ok = ok & (det != 0)
            safe = torch.where(ok, det, torch.ones_like(det))
            off_x = -(dyy * dx - dxy * dy) / safe
            off_y = -(-dxy * dx + dxx * dy) / safe
            offset = torch.stack([off_x, off_y], -1) * ok.unsqueeze(-1)
            kpts = kpts + offset
        elif self.refine == 'quarter':
            xi, yi = x.long(), y.long()
            # as MMPose's refine_keypoints (x needs 1 < x < W - 1,
            # y 1 < y < H - 1)
            okx = (xi > 1) & (xi < W - 1) & (yi > 0)
            oky = (yi > 1) & (yi < H - 1) & (xi > 0)

            def lin(yy, xx):
                return yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)

            gx = flat.gather(-1, lin(yi, xi + 1).unsqueeze(-1)).squeeze(-1) - \
                flat.gather(-1, lin(yi, xi - 1).unsqueeze(-1)).squeeze(-1)
            gy = flat.gather(-1, lin(yi + 1, xi).unsqueeze(-1)).squeeze(-1) - \
                flat.gather(-1, lin(yi - 1, xi).unsqueeze(-1)).squeeze(-1)
            kpts = kpts + 0.25 * torch.stack(
                [torch.sign(gx) * okx,
                 torch.sign(gy) * oky], -1)
        keypoints = kpts.cpu().numpy().astype(np.float32)
        scores = scores.cpu().numpy().astype(np.float32)
        keypoints[scores <= 0] = -1
        return heatmap_to_input(keypoints, self.input_size,
                                self.heatmap_size), scores

    def decode_labels(self,
                      labels: np.ndarray,
                      sigmas: Optional[np.ndarray] = None
                      ) -> Tuple[np.ndarray, np.ndarray]:
        """Decode normalised coordinates (e.g. ``mu_hat``) to input pixels.

        Args:
            labels (np.ndarray): Labels in shape (N, K, 2), fractions of
                the side (``(u + 0.5) / w``).
            sigmas (np.ndarray, optional): ``sigma_hat`` in shape (N, K, 2);
                gives the scores ``1 - mean(sigma)`` (as RLE), clipped to
                [0, 1]. Defaults to None (scores of 1).

        Returns:
            tuple:
            - keypoints (np.ndarray): In input pixels, shape (N, K, 2).
            - scores (np.ndarray): In shape (N, K).
        """
        return labels_to_input(labels, self.input_size, sigmas)

    def sigmas_to_input(self, sigmas: np.ndarray) -> np.ndarray:
        """Convert ``sigma_hat`` (fractions of the side) to input pixels.

        Args:
            sigmas (np.ndarray): In shape (N, K, 2).

        Returns:
            np.ndarray: Per-axis std in input pixels, shape (N, K, 2).
        """
        return sigmas_to_input(sigmas, self.input_size)
