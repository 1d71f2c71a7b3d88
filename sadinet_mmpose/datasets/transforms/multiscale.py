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
                cv2.warpAffine(img, mat, (int(w), int(h)),
                               flags=cv2.INTER_LINEAR))
            extra_scales.append(s)
        results['ms_inputs'] = extra
        results['ms_scales'] = tuple(extra_scales)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'scales={self.scales}, use_udp={self.use_udp})')
