"""Top-down affine crop plus extra crops at other scales (multi-scale test)."""
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
from mmpose.datasets.transforms import TopdownAffine
from mmpose.registry import TRANSFORMS
from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix

#: Keys this transform adds; list them in ``PackPoseInputs(meta_keys=...)``.
MS_META_KEYS = ('ms_inputs', 'ms_scales')


@TRANSFORMS.register_module()
class MultiScaleTopdownAffine(TopdownAffine):
    """``TopdownAffine`` that also crops the image at other box scales.

    Use it in the test pipeline in place of ``TopdownAffine``. The main crop
    (``img``) is exactly ``TopdownAffine``'s. For every scale ``s != 1`` in
    ``scales`` the original image is cropped again around the same centre
    with the box side multiplied by ``s`` (``s > 1`` zooms out: the person
    appears ``s`` times smaller; ``s < 1`` zooms in), at the same input size.
    The extra crops go to ``results['ms_inputs']`` (list of uint8 HxWx3
    arrays, BGR like ``img``) and their scales to ``results['ms_scales']``;
    add both keys to ``PackPoseInputs``' ``meta_keys`` so that
    :class:`~sadinet_mmpose.models.MSTopdownPoseEstimator` receives them.

    Args:
        input_size (tuple[int, int]): Crop size ``(w, h)``.
        scales (Sequence[float]): Box-size multipliers; 1.0 (the main crop)
            may be listed or not. Defaults to ``(1.0, )`` (no extra crop).
        use_udp (bool): Unbiased data processing (as ``TopdownAffine``).
            Defaults to False.
    """

    def __init__(self,
                 input_size: Sequence[int],
                 scales: Sequence[float] = (1.0, ),
                 use_udp: bool = False):
        super().__init__(input_size=input_size, use_udp=use_udp)
        scales = [float(s) for s in scales]
        if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(
                'MultiScaleTopdownAffine.scales (test_dataloader.dataset.'
                f'pipeline) must be positive numbers, got {scales}')
        self.scales = tuple(scales)

    def transform(self, results: Dict) -> Optional[dict]:
        """Crop as ``TopdownAffine`` and add the extra-scale crops.

        Args:
            results (dict): The result dict (needs ``img``, ``bbox_center``,
                ``bbox_scale``).

        Returns:
            dict: ``results`` with ``ms_inputs`` and ``ms_scales`` added.
        """
        img = results['img']
        results = super().transform(results)
        w, h = self.input_size
        center = results['input_center']
        scale = results['input_scale']
        rot = results['bbox_rotation'][0] if 'bbox_rotation' in results \
            else 0.
        get_mat = get_udp_warp_matrix if self.use_udp else get_warp_matrix
        extra, extra_scales = [], []
        for s in self.scales:
            if s == 1.0:
                continue
            mat = get_mat(center, scale * s, rot, output_size=(w, h))
            extra.append(
                cv2.warpAffine(
                    img, mat, (int(w), int(h)), flags=cv2.INTER_LINEAR))
            extra_scales.append(s)
        results['ms_inputs'] = extra
        results['ms_scales'] = tuple(extra_scales)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'scales={self.scales}, use_udp={self.use_udp})')


def scale_crops(data_samples, scale: float, scales: Sequence[float]) -> list:
    """The crop at ``scale`` of every data sample, as (3, h, w) tensors.

    Args:
        data_samples (list[PoseDataSample]): Samples packed with
            ``ms_inputs`` and ``ms_scales`` (see
            :class:`MultiScaleTopdownAffine`).
        scale (float): The box scale wanted.
        scales (Sequence[float]): The configured scales, for the message.

    Returns:
        list[Tensor]: One uint8 (3, h, w) tensor per sample.
    """
    import torch
    crops = []
    for ds in data_samples:
        ms_scales = [float(s) for s in ds.metainfo.get('ms_scales', ())]
        if 'ms_inputs' not in ds.metainfo or not np.any(
                np.isclose(ms_scales, scale)):
            raise ValueError(
                f'model.test_cfg.multiscale_test.scales={list(scales)} '
                f'but the data sample has no crop at scale {scale} '
                f'(ms_scales={ms_scales}): the test pipeline needs '
                'MultiScaleTopdownAffine(scales=...) with the same '
                "scales and 'ms_inputs', 'ms_scales' in PackPoseInputs' "
                'meta_keys')
        img = ds.metainfo['ms_inputs'][int(
            np.argmin(np.abs(np.asarray(ms_scales) - scale)))]
        crops.append(
            torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))
    return crops


def drop_scale_crops(data_samples) -> None:
    """Remove the multi-scale crops from the data samples' metainfo."""
    for ds in data_samples:
        for key in MS_META_KEYS:
            if key in ds:
                delattr(ds, key)
