"""ONNX export of a top-down heatmap model's prediction path, with checks.

The exported graph is backbone -> neck -> ``head.forward`` on normalised
crops: for the DLM head the last stage's H1 (``heatmaps``), ``mu`` and
``sigma``, and with a fitted error head its scales (``error_sigma``); for
MMPose's ``HeatmapHead`` / ``CPMHead`` (e.g. stock Hourglass-52) the last
stage's ``heatmaps``. The flow (H2) is not part of
prediction and is left out. Everything the test pipeline does around the
network goes into the file's metadata for :class:`~sadinet_mmpose.deploy.
OnnxPoseEstimator`.

Exporter: PyTorch's TorchScript-based ``torch.onnx.export(...,
dynamo=False)``. It needs no package beyond ``onnx`` (to write the
metadata), while the default ``dynamo=True`` path also needs ``onnxscript``
(and ``onnx_ir``); both give the same operators for these models.
"""
import contextlib
import json
import os
import os.path as osp
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..codecs.decoding import heatmap_grid
from .preprocess import box_center_scale, crop, normalize
from .runtime import METADATA_KEY, METADATA_VERSION

#: ONNX opset of the exported graphs (ONNX Runtime >= 1.14, TensorRT 8.6+).
DEFAULT_OPSET = 17
#: Parity tolerance: max |ORT - PyTorch| <= ATOL + RTOL * max |PyTorch|,
#: per output.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


class ExportError(ValueError):
    """A config, checkpoint or option that cannot be exported (one line)."""


class PredictionForward(nn.Module):
    """Backbone -> neck -> head forward, returning only what is decoded.

    Args:
        model (nn.Module): A ``TopdownPoseEstimator``.
        dlm (bool): The head is a ``DLMHead`` (three outputs).
    """

    def __init__(self, model: nn.Module, dlm: bool) -> None:
        super().__init__()
        self.model = model
        self.dlm = dlm
        self.error = dlm and model.head.has_error_head

    def forward(self, inputs: torch.Tensor):
        """Outputs for normalised crops (B, 3, h, w).

        Returns:
            Tensor | tuple: ``heatmaps`` (B, K, H, W), plus ``mu`` and
            ``sigma`` (B, K, 2) for the DLM head, and ``error_sigma`` (B, K,
            2) with a fitted error head.
        """
        feats = self.model.backbone(inputs)
        if self.model.with_neck:
            feats = self.model.neck(feats)
        head = self.model.head
        if self.error:
            heatmaps, *rest = head.forward_with_error(feats)
            return (heatmaps[-1], *rest)
        out = head.forward(feats)
        if self.dlm:
            heatmaps, mu, sigma = out
            return heatmaps[-1], mu, sigma
        return out[-1] if isinstance(out, (list, tuple)) else out


@contextlib.contextmanager
def _area_pooling_without_sizes(opset: int):
    """Export ``adaptive_avg_pool2d`` without static input sizes.

    With a symbolic batch dimension the TorchScript exporter loses the
    spatial sizes behind every ``Resize`` whose target size it builds from
    ``Shape`` (SFM's global attention resizes, then area-pools), and its own
    ``adaptive_avg_pool2d`` needs them. Area pooling to an exact fraction of
    the size (the only kind these models use) is a reshape into
    ``(B, C, h, H/h, w, W/w)`` and a mean over the two block axes, which
    needs no static size; pooling to 1x1 is ``GlobalAveragePool``. The
    override is registered for the export only. A size that is not a whole
    multiple fails in ONNX Runtime's Reshape, so the parity check reports
    it.
    """
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args('v', 'is')
    def adaptive_avg_pool2d(g, x, output_size):
        oh, ow = output_size
        if (oh, ow) == (1, 1):
            return g.op('GlobalAveragePool', x)

        def const(values):
            return g.op(
                'Constant', value_t=torch.tensor(values, dtype=torch.int64))

        shape = g.op('Shape', x)
        lead = g.op('Slice', shape, const([0]), const([2]))
        h = g.op('Slice', shape, const([2]), const([3]))
        w = g.op('Slice', shape, const([3]), const([4]))
        blocks = g.op(
            'Concat',
            lead,
            const([oh]),
            g.op('Div', h, const([oh])),
            const([ow]),
            g.op('Div', w, const([ow])),
            axis_i=0)
        y = g.op('Reshape', x, blocks)
        if opset >= 18:
            return g.op('ReduceMean', y, const([3, 5]), keepdims_i=0)
        return g.op('ReduceMean', y, axes_i=[3, 5], keepdims_i=0)

    torch.onnx.register_custom_op_symbolic('aten::adaptive_avg_pool2d',
                                           adaptive_avg_pool2d, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic('aten::adaptive_avg_pool2d',
                                                 opset)


def _head_kind(head) -> str:
    """``'dlm'`` or ``'heatmap'``; raises for heads that cannot be exported."""
    from mmpose.models.heads import CPMHead, HeatmapHead

    from ..models.heads import DLMHead
    if isinstance(head, DLMHead):
        return 'dlm'
    if isinstance(head, (HeatmapHead, CPMHead)):
        return 'heatmap'
    raise ExportError(
        f'head {type(head).__name__} cannot be exported: supported are '
        'DLMHead (heatmaps, mu, sigma) and the heatmap heads HeatmapHead and '
        'CPMHead (heatmaps)')


def _codec_decoding(codec) -> Tuple[str, int]:
    """(refine, blur_kernel_size) of the head's codec."""
    from mmpose.codecs import MSRAHeatmap

    from ..codecs import FlowHeatmapCodec
    if isinstance(codec, FlowHeatmapCodec):
        return codec.refine, int(codec.blur_kernel_size)
    if type(codec) is MSRAHeatmap:
        return ('dark' if codec.unbiased else 'quarter',
                int(codec.blur_kernel_size))
    raise ExportError(
        f'codec {type(codec).__name__} cannot be decoded by the ONNX '
        'runtime: supported are FlowHeatmapCodec and MSRAHeatmap')


def _pipeline_crop(cfg) -> float:
    """The box padding of the test pipeline (checks the crop it uses)."""
    pipeline = cfg.test_dataloader.dataset.get('pipeline', [])
    types = [t.get('type') for t in pipeline]
    padding = 1.25
    for t in pipeline:
        if t.get('type') == 'GetBBoxCenterScale':
            padding = float(t.get('padding', 1.25))
        if t.get('type') in ('TopdownAffine', 'MultiScaleTopdownAffine') \
                and t.get('use_udp', False):
            raise ExportError(
                'the test pipeline uses TopdownAffine(use_udp=True), which '
                'the ONNX runtime does not reproduce')
    if not any(
            t in ('TopdownAffine', 'MultiScaleTopdownAffine') for t in types):
        raise ExportError(f'the test pipeline {types} has no TopdownAffine: '
                          'not a top-down model')
    return padding


def load_state_strict(model: nn.Module, checkpoint: str) -> dict:
    """Load a checkpoint whose weights must fit the model exactly.

    Args:
        model (nn.Module): The built model.
        checkpoint (str): Path of an mmengine / MMPose checkpoint.

    Returns:
        dict: The checkpoint's ``meta`` (empty if none).
    """
    from ..engine.checkpoint_fit import (CheckpointMismatchError,
                                         load_fitting_checkpoint)
    try:
        ckpt = load_fitting_checkpoint(model, checkpoint)
    except CheckpointMismatchError as e:
        raise ExportError(str(e)) from e
    return ckpt.get('meta', {}) or {}


def load_model(config, checkpoint: Optional[str] = None):
    """Build the config's model in eval mode on the CPU, strictly loaded.

    Args:
        config (str | mmengine.Config): The config, a file or
            ``package::path`` of an installed package (e.g. ``mmpose::...``).
        checkpoint (str, optional): Weights; None keeps the initial (random)
            weights. Defaults to None.

    Returns:
        nn.Module: The model, with ``dataset_meta`` and ``cfg`` set as
        ``mmpose.apis.init_model`` sets them.
    """
    from mmengine.config import Config
    from mmpose.apis import init_model
    if isinstance(config, str) and '::' in config:
        # a config of an installed package, e.g. 'mmpose::body_2d_keypoint/..'
        from mmengine.hub import get_config
        try:
            config = get_config(config)
        except Exception as e:  # unknown package or path
            raise ExportError(f'config {config} cannot be found: '
                              f'{str(e).splitlines()[0]}') from e
    elif isinstance(config, str):
        if not osp.isfile(config):
            raise ExportError(f'config {config} does not exist')
        config = Config.fromfile(config)
    if 'model' not in config:
        raise ExportError('the config has no model')
    model = init_model(config, None, device='cpu')
    if checkpoint is not None:
        meta = load_state_strict(model, checkpoint)
        if 'dataset_meta' in meta:
            model.dataset_meta = meta['dataset_meta']
    return model.eval()


def describe(model, input_size: Optional[Sequence[int]] = None) -> dict:
    """What the runtime needs to know about ``model`` (the ONNX metadata).

    Args:
        model (nn.Module): From :func:`load_model`.
        input_size (Sequence[int], optional): ``(w, h)`` asked for; must be
            the codec's. Defaults to None (the codec's).

    Returns:
        dict: The metadata (JSON-serialisable).
    """
    head = getattr(model, 'head', None)
    if head is None:
        raise ExportError('the model has no head')
    kind = _head_kind(head)
    codec = getattr(head, 'decoder', None)
    if codec is None:
        raise ExportError(f'head {type(head).__name__} has no decoder '
                          '(codec): set the head\'s decoder in the config')
    refine, blur = _codec_decoding(codec)
    codec_size = tuple(int(v) for v in codec.input_size)
    if input_size is not None and tuple(input_size) != codec_size:
        raise ExportError(
            'input size {}x{} (h x w) does not fit the config: its codec '
            'crops {}x{} and decodes {}x{} heatmaps'.format(
                input_size[1], input_size[0], codec_size[1], codec_size[0],
                codec.heatmap_size[1], codec.heatmap_size[0]))
    test_cfg = dict(model.test_cfg or {})
    flip_test = bool(test_cfg.get('flip_test', False))
    if flip_test and test_cfg.get('flip_mode', 'heatmap') != 'heatmap':
        raise ExportError(f"test_cfg.flip_mode={test_cfg['flip_mode']!r}: "
                          "the ONNX runtime flips heatmaps only ('heatmap')")
    decode_source = test_cfg.get('decode_source', 'h1')
    if kind == 'dlm' and decode_source not in ('h1', 'mu'):
        raise ExportError(
            f'test_cfg.decode_source={decode_source!r} needs H2 from the '
            "flow, which is not exported: use 'h1' or 'mu'")
    ms = test_cfg.get('multiscale_test') or {}
    if ms and (ms.get('use_udp', False)
               or ms.get('heatmap_key', 'heatmaps') != 'heatmaps'):
        raise ExportError('test_cfg.multiscale_test with use_udp or another '
                          'heatmap_key is not reproduced by the ONNX runtime')
    scales = [float(s) for s in ms.get('scales', [1.0])] if ms else [1.0]
    meta = dict(model.dataset_meta or {})
    K = int(head.out_channels)
    flip_indices = [int(i) for i in meta.get('flip_indices', range(K))]
    if len(flip_indices) != K:
        raise ExportError(
            f'keypoint count mismatch: the head predicts {K} keypoints but '
            f"the dataset metainfo ({meta.get('dataset_name', '?')}) has "
            f'{len(flip_indices)}')
    pre = model.data_preprocessor
    if getattr(pre, '_enable_normalize', False):
        mean = [float(v) for v in pre.mean.flatten()]
        std = [float(v) for v in pre.std.flatten()]
    else:
        mean, std = [0., 0., 0.], [1., 1., 1.]
    names = meta.get('keypoint_id2name') or {}
    factors = dof = None
    calibrated = False
    if kind == 'dlm':
        # the calibration as it holds for the exported test settings
        cal = head.calibration.for_test(
            dict(
                flip_test=flip_test,
                decode_source=decode_source,
                multiscale_test=dict(scales=scales)))
        factors = [float(v) for v in cal['factors']]
        # 0 (the head's "Gaussian") as None
        dof = [float(v) if v > 0 else None for v in cal['dof'].tolist()]
        calibrated = bool(cal['calibrated'])
    return dict(
        version=METADATA_VERSION,
        head=type(head).__name__,
        outputs=(['heatmaps', 'mu', 'sigma'] +
                 (['error_sigma'] if head.has_error_head else [])
                 if kind == 'dlm' else ['heatmaps']),
        codec=type(codec).__name__,
        heatmap_grid=heatmap_grid(codec),
        input_size=list(codec_size),
        heatmap_size=[int(v) for v in codec.heatmap_size],
        num_keypoints=K,
        refine=refine,
        blur_kernel_size=blur,
        decode_source=decode_source if kind == 'dlm' else 'h1',
        mean=mean,
        std=std,
        bgr_to_rgb=bool(getattr(pre, '_channel_conversion', False)),
        bbox_padding=_pipeline_crop(model.cfg),
        flip_test=flip_test,
        flip_indices=flip_indices,
        shift_heatmap=bool(test_cfg.get('shift_heatmap', False)),
        shift_coords=bool(test_cfg.get('shift_coords', True)),
        scales=scales,
        dataset_name=meta.get('dataset_name'),
        keypoint_names=[names[i] for i in sorted(names)] if names else [],
        sigma_calibration=factors,
        sigma_dof=dof,
        sigma_calibrated=calibrated,
    )


def export_onnx(model,
                out_file: str,
                batch: int = 1,
                dynamic_batch: bool = False,
                input_size: Optional[Sequence[int]] = None,
                opset: int = DEFAULT_OPSET,
                extra_metadata: Optional[dict] = None) -> dict:
    """Export ``model``'s prediction path to ``out_file``.

    Args:
        model (nn.Module): From :func:`load_model`.
        out_file (str): The ``.onnx`` file to write.
        batch (int): Batch size of the graph (ignored with
            ``dynamic_batch``). Defaults to 1.
        dynamic_batch (bool): A symbolic batch dimension. Defaults to False.
        input_size (Sequence[int], optional): ``(w, h)``, must equal the
            codec's. Defaults to None.
        opset (int): ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
        extra_metadata (dict, optional): Added to the metadata (e.g. the
            config and checkpoint names). Defaults to None.

    Returns:
        dict: The metadata written.
    """
    import onnx
    if batch < 1:
        raise ExportError(f'batch must be >= 1, got {batch}')
    meta = describe(model, input_size)
    meta.update(
        opset=opset,
        dynamic_batch=bool(dynamic_batch),
        batch=None if dynamic_batch else int(batch),
        **(extra_metadata or {}))
    w, h = meta['input_size']
    wrapper = PredictionForward(model, meta['head'] == 'DLMHead').eval()
    dummy = torch.randn(1 if dynamic_batch else batch, 3, h, w)
    axes = None
    if dynamic_batch:
        axes = {name: {0: 'batch'} for name in ['input'] + meta['outputs']}
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    pooling = (
        _area_pooling_without_sizes(opset)
        if dynamic_batch else contextlib.nullcontext())
    with torch.no_grad(), pooling, warnings.catch_warnings():
        # shape checks in the models' Python code become constants in the
        # trace; the parity check tests the result
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper, (dummy, ),
            out_file,
            dynamo=False,
            input_names=['input'],
            output_names=meta['outputs'],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True)
    proto = onnx.load(out_file)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    proto.doc_string = (f"{meta['head']} top-down pose model exported by "
                        'sadinet_mmpose (input: normalised crops)')
    onnx.checker.check_model(proto)
    onnx.save(proto, out_file)
    return meta


def image_inputs(model, images: Iterable[str]) -> np.ndarray:
    """Normalised crops of whole images (as ``inference_topdown`` without
    boxes), for the parity check on real pictures.

    Args:
        model (nn.Module): From :func:`load_model`.
        images (Iterable[str]): Image files.

    Returns:
        np.ndarray: (N, 3, h, w) float32.
    """
    import cv2
    meta = describe(model)
    size = meta['input_size']
    crops = []
    for path in images:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise ExportError(f'image {path} cannot be read')
        box = np.array([[0, 0, img.shape[1], img.shape[0]]], np.float32)
        c, s = box_center_scale(box, size, meta['bbox_padding'])
        crops.append(crop(img, c[0], s[0], size))
    return normalize(
        np.stack(crops), meta['mean'], meta['std'], meta['bgr_to_rgb'])


def compare(model,
            onnx_file: str,
            inputs: np.ndarray,
            atol: float = DEFAULT_ATOL,
            rtol: float = DEFAULT_RTOL) -> Dict[str, dict]:
    """ONNX Runtime (CPU) against PyTorch on the same inputs.

    Args:
        model (nn.Module): From :func:`load_model`.
        onnx_file (str): The exported file.
        inputs (np.ndarray): (N, 3, h, w) float32 crops.
        atol (float): Absolute part of the tolerance.
        rtol (float): Part relative to the largest PyTorch value.

    Returns:
        dict: Per output ``max_abs_diff``, ``max_abs_ref``, ``tolerance``
        and ``ok``.
    """
    from .runtime import OnnxPoseEstimator
    est = OnnxPoseEstimator(onnx_file)
    got = est.run(inputs)
    wrapper = PredictionForward(model, est.meta['head'] == 'DLMHead').eval()
    with torch.no_grad():
        ref = wrapper(torch.from_numpy(np.ascontiguousarray(inputs)))
    ref = ref if isinstance(ref, tuple) else (ref, )
    report = {}
    for name, r in zip(est.output_names, ref):
        r = r.float().numpy()
        diff = float(np.abs(got[name] - r).max())
        peak = float(np.abs(r).max())
        tol = atol + rtol * peak
        report[name] = dict(
            max_abs_diff=diff,
            max_abs_ref=peak,
            tolerance=tol,
            ok=bool(diff <= tol))
    return report


def default_image_dir(repo_root: str) -> Optional[str]:
    """The MPII sample images shipped with the tests, or the shared copy."""
    for d in (osp.join(repo_root, 'tests', 'data', 'mpii_sample', 'images'),
              osp.join(
                  osp.dirname(repo_root), 'shared', 'data', 'mpii_sample',
                  'images')):
        if osp.isdir(d):
            return d
    return None


def list_images(folder: str) -> List[str]:
    """Image files (jpg/png) in ``folder``, sorted."""
    return sorted(
        osp.join(folder, f) for f in os.listdir(folder)
        if f.lower().endswith(('.jpg', '.jpeg', '.png')))
