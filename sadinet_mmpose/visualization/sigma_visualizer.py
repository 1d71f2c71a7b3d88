"""MMPose's pose visualiser plus what the DLM head predicts: sigma and H2."""
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.structures import InstanceData
from mmpose.registry import VISUALIZERS
from mmpose.structures import PoseDataSample
from mmpose.visualization import PoseLocalVisualizer


@VISUALIZERS.register_module()
class SigmaPoseVisualizer(PoseLocalVisualizer):
    """``PoseLocalVisualizer`` that also draws each keypoint's sigma.

    Skeletons and keypoints are drawn by MMPose's code in the dataset's
    colours; every drawn keypoint that has ``keypoint_sigmas`` (image
    pixels, per axis) gets an ellipse with those semi-axes. Use it as any
    MMPose visualiser: in a config, ``visualizer=dict(type=
    'SigmaPoseVisualizer')`` with ``'sadinet_mmpose.visualization'`` in
    ``custom_imports`` (``import sadinet_mmpose`` alone does not import
    MMPose's visualiser); in code, :meth:`add_datasample`.
    :meth:`render_panels` draws the four-panel picture of ``tools/demo.py``
    and the main job.

    Images given to MMPose's methods are RGB, as MMPose's; those given to
    and returned by :meth:`render_panels` are BGR, as ``cv2.imread`` and
    ``cv2.imwrite`` use.

    Args:
        name (str): The instance name (mmengine's visualisers are named
            singletons). Defaults to 'visualizer'.
        sigma_color (tuple): RGB colour of the sigma ellipses. Defaults to
            white.
        panel_size (int): Side of each panel of :meth:`render_panels`.
            Defaults to 256.
        **kwargs: The arguments of ``PoseLocalVisualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 sigma_color: Sequence[int] = (255, 255, 255),
                 panel_size: int = 256,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.sigma_color = tuple(int(c) for c in sigma_color)
        self.panel_size = int(panel_size)

    def _draw_instances_kpts(self,
                             image: np.ndarray,
                             instances: InstanceData,
                             kpt_thr: float = 0.3,
                             show_kpt_idx: bool = False,
                             skeleton_style: str = 'mmpose') -> np.ndarray:
        """MMPose's skeleton and keypoints, then the sigma ellipses."""
        image = super()._draw_instances_kpts(image, instances, kpt_thr,
                                             show_kpt_idx, skeleton_style)
        if 'keypoint_sigmas' not in instances:
            return image
        image = np.ascontiguousarray(image)
        thick = max(1, int(round(max(image.shape[:2]) / 300)))
        visible = instances.get('keypoints_visible',
                                instances.get('keypoint_scores'))
        for kpts, sigmas, vis in zip(instances.keypoints,
                                     instances.keypoint_sigmas, visible):
            for (x, y), (sx, sy), v in zip(kpts, sigmas, vis):
                if v < kpt_thr or not np.all(np.isfinite([x, y, sx, sy])):
                    continue
                cv2.ellipse(image, (int(round(x)), int(round(y))),
                            (max(1, int(round(sx))), max(1, int(round(sy)))),
                            0, 0, 360, self.sigma_color, thick, cv2.LINE_AA)
        self.set_image(image)
        return self.get_image()

    # ------------------------------------------------------------------
    # the four-panel picture
    # ------------------------------------------------------------------
    def render_panels(self,
                      image: np.ndarray,
                      data_sample: PoseDataSample,
                      kpt_thr: float = 0.1) -> np.ndarray:
        """Skeleton + sigma, crop + H1, crop + H2, sigma per joint.

        Args:
            image (np.ndarray): The original image, BGR, (H, W, 3).
            data_sample (PoseDataSample): One prediction of
                ``inference_topdown`` (with ``test_cfg.output_heatmaps=True``
                for the heatmap panels).
            kpt_thr (float): Keypoints scoring below are not drawn.
                Defaults to 0.1.

        Returns:
            np.ndarray: BGR, (S, 4 * S, 3) with S = ``panel_size``.
        """
        size = self.panel_size
        pred = data_sample.pred_instances
        rgb = np.ascontiguousarray(image[..., ::-1])
        skeleton = self._draw_instances_kpts(rgb, pred, kpt_thr)[..., ::-1]
        h, w = skeleton.shape[:2]
        f = size / max(h, w)
        skeleton = cv2.resize(
            np.ascontiguousarray(skeleton),
            (max(1, int(w * f)), max(1, int(h * f))))
        first = np.zeros((size, size, 3), np.uint8)
        first[:skeleton.shape[0], :skeleton.shape[1]] = skeleton
        _title(first, 'skeleton + sigma')
        crop = _crop(image, data_sample.metainfo, size)
        fields = data_sample.get('pred_fields', None)
        panels = [first]
        for key, title in (('heatmaps', 'H1 (backbone)'), ('heatmaps_h2',
                                                           'H2 (flow)')):
            if fields is not None and key in fields:
                hm = fields.get(key)
                hm = np.asarray(
                    hm.detach().cpu().numpy() if hasattr(hm, 'detach') else hm)
                panel = cv2.addWeighted(crop, 0.45,
                                        _colormap(hm.max(axis=0), size), 0.55,
                                        0)
            else:
                panel = (crop * 0.4).astype(np.uint8)
                title += ': not given'
            _title(panel, title)
            panels.append(panel)
        sigmas = (
            np.asarray(pred.keypoint_sigmas)[0]
            if 'keypoint_sigmas' in pred else None)
        id2name = (self.dataset_meta or {}).get('keypoint_id2name', {})
        names = [
            id2name.get(i, str(i))
            for i in range(np.asarray(pred.keypoints).shape[1])
        ]
        calibrated = (
            bool(np.asarray(pred.sigma_calibrated).reshape(-1)[0])
            if 'sigma_calibrated' in pred else None)
        panels.append(_sigma_chart(sigmas, names, size, calibrated))
        return np.concatenate(panels, axis=1)


def _title(img: np.ndarray, text: str, org=(6, 18), scale: float = 0.5):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3,
                cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)


def _colormap(heatmap: np.ndarray, size: int) -> np.ndarray:
    hm = np.clip(np.nan_to_num(heatmap), 0, None)
    hm = hm / max(float(hm.max()), 1e-6)
    hm = cv2.resize(
        (hm * 255).astype(np.uint8), (size, size),
        interpolation=cv2.INTER_LINEAR)
    return cv2.applyColorMap(hm, cv2.COLORMAP_JET)


def _crop(img: np.ndarray, metainfo: dict, size: int) -> np.ndarray:
    """The person crop the model saw, resized to ``size`` x ``size``."""
    from mmpose.structures.bbox import get_warp_matrix
    center = np.asarray(metainfo['input_center'], dtype=np.float32)
    scale = np.asarray(metainfo['input_scale'], dtype=np.float32)
    warp = get_warp_matrix(center, scale, 0, output_size=(size, size))
    return cv2.warpAffine(img, warp, (size, size), flags=cv2.INTER_LINEAR)


def _sigma_chart(sigmas: Optional[np.ndarray],
                 names: Sequence[str],
                 size: int,
                 calibrated: Optional[bool] = None) -> np.ndarray:
    """Bars of the mean sigma of each joint (image pixels), titled
    calibrated or uncalibrated when that is known."""
    chart = np.full((size, size, 3), 255, np.uint8)
    if sigmas is None:
        _title(chart, 'no sigma (not a DLM head)', (6, size // 2), 0.45)
        return chart
    mean = sigmas.mean(axis=1)
    top = max(float(mean.max()), 1e-6)
    row_h = (size - 24) / max(len(mean), 1)
    state = {None: '', True: 'calibrated ', False: 'uncalibrated '}
    cv2.putText(chart, f'{state[calibrated]}sigma per joint (px)', (6, 16),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for k, v in enumerate(mean):
        y = int(24 + k * row_h)
        w = int((size - 140) * v / top)
        cv2.rectangle(chart, (100, y + 1), (100 + w, int(y + row_h) - 1),
                      (200, 120, 40), -1)
        cv2.putText(chart, names[k][:13], (2, int(y + row_h * 0.8)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(chart, f'{v:.1f}', (104 + w, int(y + row_h * 0.8)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
    return chart
