"""The fitted sigma calibration of a DLM head, and the outputs it gives."""
import warnings
from typing import List, Optional

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import nn

from ...evaluation.functional import (CONDITIONS_LEN, conditions_hold,
                                      describe_conditions, probability_within)

#: ``test_cfg.score_mode`` values: the decoder's score, the calibrated
#: probability of an error within ``score_tau`` person scales, their product
SCORE_MODES = ('heatmap', 'probability', 'heatmap_probability')


class SigmaCalibrator(nn.Module):
    """A per-joint calibration of the reported sigma, applied to predictions.

    ``tools/calibrate_sigma.py`` fits it on held-out data; its buffers
    travel in the head's state dict (``head.calibration.*``). Ones and zeros
    mean uncalibrated (finite values, so weight checks and rank comparisons
    hold). The evaluation, the multi-scale test and the ONNX export all go
    through :meth:`for_test` and :meth:`pack`.

    Buffers:
        - factors (K,): the factor on each joint's sigma.
        - dof (K,): degrees of freedom of the 2-D Student t the calibrated
          sigma states (0: Gaussian).
        - scale_ratio (1,): the person scale of the calibration split (head
          size, else box side) over the crop's side, the probability
          score's radius unit (0: not fitted).
        - fit_conditions: the test settings of the fit
          (``evaluation/functional/fit_conditions.py``; zeros: not recorded).

    Args:
        num_keypoints (int): K.
    """

    def __init__(self, num_keypoints: int) -> None:
        super().__init__()
        self.register_buffer('factors', torch.ones(num_keypoints))
        self.register_buffer('dof', torch.zeros(num_keypoints))
        self.register_buffer('scale_ratio', torch.zeros(1))
        self.register_buffer('fit_conditions', torch.zeros(CONDITIONS_LEN))
        self._warned = False

    def reset(self) -> None:
        """Forget the fit (ones and zeros: uncalibrated)."""
        for buf, value in (('factors', 1.), ('dof', 0.), ('scale_ratio', 0.),
                           ('fit_conditions', 0.)):
            getattr(self, buf).fill_(value)

    @property
    def calibrated(self) -> bool:
        """Whether the buffers hold a fit."""
        return bool((self.factors != 1).any() or (self.dof > 0).any())

    def for_test(self, test_cfg: Optional[dict]) -> dict:
        """The calibration that holds under ``test_cfg``.

        Returns the fitted ``factors`` (K,), ``dof`` (K,) and ``calibrated``
        (bool). A fit that recorded other test settings (flip, scales,
        decode source) than ``test_cfg``'s does not hold: the result is
        uncalibrated (factors 1, Gaussian) and a warning says so once.
        """
        factors = self.factors.detach().cpu().numpy()
        dof = self.dof.detach().cpu().numpy().astype(np.float32)
        calibrated = self.calibrated
        conditions = self.fit_conditions.cpu()
        if calibrated and conditions_hold(conditions, test_cfg) is False:
            if not self._warned:
                self._warned = True
                cfg = test_cfg or {}
                warnings.warn(
                    'DLMHead: the sigma calibration was fitted under '
                    f'{describe_conditions(conditions)} and does not hold '
                    'for this test (flip_test='
                    f"{bool(cfg.get('flip_test', False))}, decode_source="
                    f"{cfg.get('decode_source', 'h1')!r}, scales as "
                    'configured): the sigmas are reported uncalibrated; '
                    'refit with tools/calibrate_sigma.py under these '
                    'settings')
            factors, dof = np.ones_like(factors), np.zeros_like(dof)
            calibrated = False
        return dict(factors=factors, dof=dof, calibrated=calibrated)

    def pack(self,
             keypoints: np.ndarray,
             scores: np.ndarray,
             sigmas: np.ndarray,
             batch_data_samples: Optional[list] = None,
             test_cfg: Optional[dict] = None) -> List[InstanceData]:
        """One ``InstanceData`` per sample, with calibrated sigmas.

        ``keypoint_sigmas`` are in the pixels of the original image: the
        given input-crop sigmas times ``input_scale / input_size`` of the
        sample's metainfo (as the estimator maps the keypoints), times the
        per-joint factors. ``sigma_calibrated`` (1,) says whether the
        calibration holds; a fitted Student t adds ``keypoint_sigma_dof``
        (1, K).

        With ``test_cfg.score_mode='probability'`` the scores are
        ``P(error <= score_tau * s)`` under the calibrated distribution,
        ``s`` the person scale estimated as ``scale_ratio`` times the crop's
        side in the image (``score_tau`` 0.5 by default: PCKh@0.5's radius);
        ``'heatmap_probability'`` multiplies the decoder's scores by that
        probability; the default ``'heatmap'`` keeps the decoder's scores.

        Args:
            keypoints (np.ndarray): (B, K, 2) in input-crop pixels.
            scores (np.ndarray): (B, K).
            sigmas (np.ndarray): (B, K, 2) in input-crop pixels.
            batch_data_samples (List[PoseDataSample], optional): The data
                samples (``input_size``, ``input_scale``).
            test_cfg (dict, optional): ``score_mode``, ``score_tau`` and the
                settings :meth:`for_test` checks.

        Returns:
            list[InstanceData]
        """
        test_cfg = test_cfg or {}
        cal = self.for_test(test_cfg)
        sig = sigmas * cal['factors'][None, :, None]
        calibrated, dof = cal['calibrated'], cal['dof']
        student = bool((dof > 0).any())
        mode = test_cfg.get('score_mode', 'heatmap')
        if mode not in SCORE_MODES:
            raise ValueError(f'DLMHead: test_cfg.score_mode must be one of '
                             f'{SCORE_MODES}, got {mode!r}')
        ratio = float(self.scale_ratio[0])
        if mode != 'heatmap' and not (ratio > 0 and calibrated):
            raise ValueError(
                f"DLMHead: test_cfg.score_mode='{mode}' needs a "
                'calibrated checkpoint (tools/calibrate_sigma.py fits the '
                'person scale it uses) fitted under the settings it tests '
                'with; this one is uncalibrated for them')
        scores = np.array(scores, copy=True)
        for i, ds in enumerate(batch_data_samples or []):
            meta = ds.metainfo
            if 'input_size' in meta and 'input_scale' in meta:
                size = np.asarray(meta['input_size'], dtype=np.float32)
                scale = np.asarray(
                    meta['input_scale'], dtype=np.float32).reshape(-1)[:2]
                sig[i] = sig[i] * (scale / size)
                if mode != 'heatmap':
                    radius = float(test_cfg.get('score_tau', 0.5)) * \
                        ratio * float(scale.max())
                    prob = probability_within(radius, sig[i][None],
                                              dof[None] if student else None)
                    scores[i] = prob[0] * (
                        scores[i] if mode == 'heatmap_probability' else 1.)
        preds = []
        for i in range(sig.shape[0]):
            inst = InstanceData(
                keypoints=keypoints[i:i + 1],
                keypoint_scores=scores[i:i + 1],
                keypoint_sigmas=sig[i:i + 1],
                sigma_calibrated=np.array([calibrated]))
            if student:
                inst.keypoint_sigma_dof = dof[None]
            preds.append(inst)
        return preds
