"""Top-down pose estimation from an exported ONNX file, without PyTorch.

Needs numpy, OpenCV and ONNX Runtime only. The ONNX file comes from
``tools/deploy/export_onnx.py``, which stores in it everything the test
pipeline of the config did around the network (crop size, box padding,
mean/std, flip test, multi-scale test, codec and keypoint metadata), so
that :class:`OnnxPoseEstimator` gives the same keypoints as
``mmpose.apis.inference_topdown`` on the PyTorch model:

1. each box is cropped as ``GetBBoxCenterScale`` + ``TopdownAffine``
   (:mod:`.preprocess`) and normalised as ``PoseDataPreprocessor``;
2. the network runs on the crops (and on the mirrored crops with the flip
   test); with the multi-scale test every box is cropped again per scale;
   the flip and scale merges are :mod:`sadinet_mmpose.codecs.merging`'s,
   the functions the PyTorch model uses;
3. the heatmaps are decoded by :mod:`sadinet_mmpose.codecs.decoding` (the
   codec's own functions) and mapped back to image pixels.

Note:
    - N: number of boxes, K: keypoints, H, W: heatmap size
"""
import json
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..codecs import merging
from ..codecs.decoding import (crop_centre_offset, decode_heatmaps,
                               heatmap_points_to_input, labels_to_input,
                               sigmas_to_input)
from .preprocess import (box_center_scale, check_boxes, check_image, crop,
                         crop_to_image, normalize)

#: Key of the JSON metadata entry in the ONNX file's ``metadata_props``.
METADATA_KEY = 'sadinet_mmpose'
#: Version of the metadata layout written by the exporter.
#: 2: ``heatmap_grid`` (pixel-centre aligned FlowHeatmapCodec heatmaps).
#: 3: ``sigma_calibration`` and ``sigma_dof`` (the DLM head's buffers).
#: 4: ``sigma_calibrated``: whether the calibration holds for the exported
#: test settings (else the factors are ones).
#: 5: the output ``error_sigma`` (a fitted error head), reported in place
#: of ``sigma`` when decoding from the heatmaps.
METADATA_VERSION = 5
#: Metadata keys the runtime needs.
REQUIRED_METADATA = ('input_size', 'heatmap_size', 'num_keypoints', 'outputs',
                     'refine', 'blur_kernel_size', 'mean', 'std', 'bgr_to_rgb',
                     'bbox_padding', 'flip_test', 'flip_indices',
                     'shift_heatmap', 'shift_coords', 'scales',
                     'decode_source', 'heatmap_grid', 'sigma_calibration',
                     'sigma_dof', 'sigma_calibrated')


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError('OnnxPoseEstimator needs onnxruntime: '
                          'pip install onnxruntime') from e
    return onnxruntime


def read_metadata(onnx_file: str, session=None) -> dict:
    """The exporter's metadata of an ONNX file.

    Args:
        onnx_file (str): Path of the file.
        session (onnxruntime.InferenceSession, optional): An open session of
            it (saves loading the file again). Defaults to None.

    Returns:
        dict: The metadata (see ``REQUIRED_METADATA``).
    """
    if session is None:
        ort = _import_onnxruntime()
        session = ort.InferenceSession(
            onnx_file, providers=['CPUExecutionProvider'])
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ValueError(
            f'{onnx_file}: no {METADATA_KEY!r} metadata; this ONNX file was '
            'not written by tools/deploy/export_onnx.py')
    meta = json.loads(props[METADATA_KEY])
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing or meta.get('version') != METADATA_VERSION:
        raise ValueError(
            f'{onnx_file}: metadata version {meta.get("version")} with '
            f'missing keys {missing}; this runtime reads version '
            f'{METADATA_VERSION} (re-export the model)')
    return meta


class OnnxPoseEstimator:
    """Top-down keypoints from an image and person boxes, on ONNX Runtime.

    Example:
        >>> est = OnnxPoseEstimator('sadinet.onnx')
        >>> out = est(cv2.imread('person.jpg'), [[x1, y1, x2, y2]])
        >>> out['keypoints'].shape, out['scores'].shape  # (1, K, 2), (1, K)

    Args:
        onnx_file (str): A file written by ``tools/deploy/export_onnx.py``.
        providers (Sequence[str], optional): ONNX Runtime execution
            providers, e.g. ``['CUDAExecutionProvider',
            'CPUExecutionProvider']``. Defaults to the CPU.
        num_keypoints (int, optional): The keypoint count the caller
            expects; a file of another model is refused. Defaults to None
            (no check).
        input_size (Sequence[int], optional): The crop size ``(w, h)`` the
            caller expects; checked like ``num_keypoints``. Defaults to None.
        flip_test (bool, optional): Override the config's flip test.
            Defaults to None (as exported).
        scales (Sequence[float], optional): Override the multi-scale test's
            box scales (``[1.0]`` switches it off). Defaults to None (as
            exported).
        session_options (onnxruntime.SessionOptions, optional): Passed to
            the session (e.g. thread counts). Defaults to None.
    """

    def __init__(self,
                 onnx_file: str,
                 providers: Optional[Sequence[str]] = None,
                 num_keypoints: Optional[int] = None,
                 input_size: Optional[Sequence[int]] = None,
                 flip_test: Optional[bool] = None,
                 scales: Optional[Sequence[float]] = None,
                 session_options=None) -> None:
        ort = _import_onnxruntime()
        self.onnx_file = str(onnx_file)
        try:
            self.session = ort.InferenceSession(
                self.onnx_file,
                sess_options=session_options,
                providers=list(providers or ['CPUExecutionProvider']))
        except Exception as e:  # ORT raises its own types
            raise ValueError(f'{self.onnx_file}: cannot be loaded by ONNX '
                             f'Runtime ({str(e).splitlines()[0]})') from e
        meta = read_metadata(self.onnx_file, self.session)
        self.meta = meta
        self.input_size = tuple(int(v) for v in meta['input_size'])
        self.heatmap_size = tuple(int(v) for v in meta['heatmap_size'])
        self.num_keypoints = int(meta['num_keypoints'])
        self.flip_test = bool(meta['flip_test'] if flip_test is
                              None else flip_test)
        self.scales = [float(s) for s in (meta['scales'] or [1.0])
                       ] if scales is None else [float(s) for s in scales]
        if 1.0 not in self.scales:
            self.scales = [1.0] + self.scales
        self._check_graph()
        self._check_expected(num_keypoints, input_size)

    # ------------------------------------------------------------------
    # checks
    # ------------------------------------------------------------------
    def _check_graph(self) -> None:
        """The graph's input and outputs agree with the metadata."""
        inputs = self.session.get_inputs()
        w, h = self.input_size
        W, H = self.heatmap_size
        K = self.num_keypoints
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [3, h, w]:
            got = [(i.name, i.shape) for i in inputs]
            raise ValueError(f'{self.onnx_file}: graph input {got} does not '
                             f'fit its metadata (one input (N, 3, {h}, {w}))')
        self.input_name = inputs[0].name
        batch = inputs[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        want = {
            'heatmaps': [K, H, W],
            'mu': [K, 2],
            'sigma': [K, 2],
            'error_sigma': [K, 2]
        }
        for name in self.meta['outputs']:
            if name not in want:
                raise ValueError(f'{self.onnx_file}: unknown output {name!r} '
                                 f'in its metadata (known: {sorted(want)})')
            if name not in outs or list(outs[name][1:]) != want[name]:
                raise ValueError(
                    f'{self.onnx_file}: graph output {name!r} '
                    f'{outs.get(name)} does not fit its metadata ((N, '
                    f'{", ".join(map(str, want[name]))}))')
        self.output_names = list(self.meta['outputs'])

    def _check_expected(self, num_keypoints, input_size) -> None:
        """Refuse a file of another model than the caller expects."""
        wrong = []
        if num_keypoints is not None and int(num_keypoints) != \
                self.num_keypoints:
            wrong.append(f'{self.num_keypoints} keypoints (expected '
                         f'{num_keypoints})')
        if input_size is not None and tuple(int(v) for v in input_size) != \
                self.input_size:
            wrong.append('input size {}x{} (expected {}x{})'.format(
                *self.input_size, *input_size))
        if wrong:
            raise ValueError(f'{self.onnx_file} is a model of another kind: ' +
                             ', '.join(wrong))

    # ------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------
    def run(self, inputs: np.ndarray) -> Dict[str, np.ndarray]:
        """Run the network on normalised crops.

        A file exported with a fixed batch size runs the crops in chunks of
        that size (the last chunk padded).

        Args:
            inputs (np.ndarray): (N, 3, h, w) float32.

        Returns:
            dict: The graph's outputs (``heatmaps`` (N, K, H, W), and for
            the DLM head ``mu`` and ``sigma`` (N, K, 2)).
        """
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        n = inputs.shape[0]
        step = self.fixed_batch or n
        parts = []
        for i in range(0, n, step):
            chunk = inputs[i:i + step]
            if len(chunk) < step:
                pad = np.zeros(
                    (step - len(chunk), ) + chunk.shape[1:], dtype=np.float32)
                chunk = np.concatenate([chunk, pad])
            outs = self.session.run(self.output_names,
                                    {self.input_name: chunk})
            parts.append([o[:min(step, n - i)] for o in outs])
        return {
            name: np.concatenate([p[j] for p in parts])
            for j, name in enumerate(self.output_names)
        }

    def _predict_crops(self, crops: np.ndarray) -> Dict[str, np.ndarray]:
        """Outputs of uint8 crops, merged with the flipped crops' outputs
        when the flip test is on (as the heads' ``predict``)."""
        m = self.meta
        x = normalize(crops, m['mean'], m['std'], m['bgr_to_rgb'])
        n = len(x)
        if not self.flip_test:
            return self.run(x)
        both = self.run(np.concatenate([x, x[..., ::-1]]))
        fi = list(m['flip_indices'])
        out = {
            'heatmaps':
            0.5 * (both['heatmaps'][:n] + merging.flip_back_heatmaps(
                both['heatmaps'][n:], fi, m['shift_heatmap']))
        }
        if 'mu' in both:
            out['mu'] = 0.5 * (
                both['mu'][:n] + merging.flip_back_labels(
                    both['mu'][n:], fi, m['shift_coords'], self.input_size[0]))
            for key in ('sigma', 'error_sigma'):
                if key in both:
                    out[key] = 0.5 * (
                        both[key][:n] +
                        merging.flip_back_sigmas(both[key][n:], fi))
        return out

    def __call__(self,
                 image: np.ndarray,
                 boxes,
                 bbox_format: str = 'xyxy') -> Dict[str, Optional[np.ndarray]]:
        """Keypoints of the people in ``boxes``.

        Args:
            image (np.ndarray): HxWx3 uint8 BGR (``cv2.imread``).
            boxes (array-like): Person boxes, (4,) or (N, 4); None or an
                empty list gives the whole image, as MMPose's
                ``inference_topdown``.
            bbox_format (str): ``'xyxy'`` or ``'xywh'``. Defaults to
                ``'xyxy'``.

        Returns:
            dict:
            - keypoints (np.ndarray): (N, K, 2) in image pixels.
            - scores (np.ndarray): (N, K).
            - sigmas (np.ndarray | None): (N, K, 2), the DLM head's
              reported sigma (its error head's scales when exported with
              one and decoding from H1, else ``sigma_hat``) as a per-axis
              scale in image pixels, times the head's
              ``sigma_calibration``: the standard deviation of a
              Gaussian, the scale of a Student t (whose standard deviation
              is ``sqrt(dof / (dof - 2))`` times it); None for a
              heatmap-only model.
            - sigma_dof (np.ndarray | None): (N, K), the degrees of
              freedom of a calibrated Student t; None for a Gaussian (or no)
              sigma.
            - sigma_calibrated (bool): whether the sigmas are calibrated
              (a fit that holds for the exported test settings).
            - heatmaps (np.ndarray): (N, K, H, W), the (last stage's)
              heatmaps, flip- and scale-merged as configured.
        """
        check_image(image)
        if boxes is None or np.size(boxes) == 0:
            # no box: the whole image, as MMPose's inference_topdown does
            h, w = image.shape[:2]
            boxes, bbox_format = np.array([[0., 0., w, h]]), 'xyxy'
        boxes = check_boxes(boxes, image.shape[:2], bbox_format)
        m = self.meta
        center, scale = box_center_scale(boxes, self.input_size,
                                         m['bbox_padding'])
        size = np.asarray(self.input_size, np.float32)
        per_scale = []  # 1.0 first, then the others in their order
        for s in [1.0] + [s for s in self.scales if s != 1.0]:
            crops = np.stack([
                crop(image, c, sc * s, self.input_size)
                for c, sc in zip(center, scale)
            ])
            per_scale.append((s, self._predict_crops(crops)))
        scales = [s for s, _ in per_scale]
        heatmaps = per_scale[0][1]['heatmaps']
        grid = m['heatmap_grid']
        if len(scales) > 1:
            heatmaps = merging.merge_scale_heatmaps(
                [o['heatmaps'] for _, o in per_scale], scales,
                crop_centre_offset(self.input_size, self.heatmap_size, grid))
        sigmas = None
        if 'sigma' in per_scale[0][1]:
            # fractions of the scale-1 crop, averaged over the scales
            sigma = merging.merge_scale_sigmas(
                [o['sigma'] for _, o in per_scale], scales)
            # the error head's, unless the keypoints are mu_hat
            key = 'error_sigma' if 'error_sigma' in per_scale[0][1] and \
                m['decode_source'] != 'mu' else 'sigma'
            sigmas = sigmas_to_input(
                merging.merge_scale_sigmas([o[key] for _, o in per_scale],
                                           scales), size)
        if m['decode_source'] == 'mu':
            # the crop centre w / 2 as a label: (w / 2 + 0.5) / w
            mu = merging.merge_scale_points([o['mu'] for _, o in per_scale],
                                            scales, (size / 2. + 0.5) / size)
            keypoints, scores = labels_to_input(mu, size, sigma)
        else:
            keypoints, scores = decode_heatmaps(heatmaps, m['refine'],
                                                m['blur_kernel_size'])
            keypoints = heatmap_points_to_input(keypoints, self.input_size,
                                                self.heatmap_size, grid)
        dof = None
        if sigmas is not None:  # to image pixels, as the keypoints
            sigmas = (
                sigmas * (scale[:, None] / size.astype(np.float64)) *
                np.asarray(m['sigma_calibration'])[None, :, None]).astype(
                    np.float32)
            d = np.array([np.inf if v is None else v for v in m['sigma_dof']],
                         np.float32)
            if np.isfinite(d).any():
                dof = np.repeat(d[None], len(sigmas), 0)
        return dict(
            keypoints=crop_to_image(keypoints, center, scale, self.input_size),
            scores=scores,
            sigmas=sigmas,
            sigma_dof=dof,
            sigma_calibrated=bool(m['sigma_calibrated'])
            and sigmas is not None,
            heatmaps=heatmaps)

    @staticmethod
    def person_records(result: Dict) -> List[dict]:
        """A result of :meth:`__call__` as one JSON-ready dict per person,
        with the keys of MMPose's inferencer output as the plugin extends
        it: ``keypoints`` (K, 2), ``keypoint_scores`` (K,),
        ``keypoint_sigmas`` (K, 2) or None, ``keypoint_sigma_dof`` (K,) or
        None for a Gaussian (or no) sigma, ``sigma_calibrated``."""
        out = []
        sig, dof = result['sigmas'], result['sigma_dof']
        for i in range(len(result['keypoints'])):
            out.append(
                dict(
                    keypoints=result['keypoints'][i].tolist(),
                    keypoint_scores=result['scores'][i].tolist(),
                    keypoint_sigmas=None if sig is None else sig[i].tolist(),
                    keypoint_sigma_dof=None
                    if dof is None else dof[i].tolist(),
                    sigma_calibrated=bool(result['sigma_calibrated'])))
        return out

    @property
    def keypoint_names(self) -> List[str]:
        """Names of the keypoints (from the model's dataset metainfo)."""
        return list(self.meta.get('keypoint_names') or [])
