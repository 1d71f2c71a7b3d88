"""Config handling, model building and random MMPose data samples."""
import copy
import logging
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: The default comparison set: (label, config).
DEFAULT_CONFIGS: Tuple[Tuple[str, str], ...] = (
    ('Hourglass-52', 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
     'td-hm_hourglass52_8xb64-210e_mpii-256x256.py'),
    ('HRNet-w32', 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
     'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py'),
    ('SADI-Net', 'configs/sadinet/'
     'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py'),
)

_PLUGIN_ERROR: List[Optional[str]] = []


def import_plugin() -> Optional[str]:
    """Import ``sadinet_mmpose`` (mmcv-lite placeholders, registration).

    A broken plugin must not stop the stock models from being measured:
    the error is returned (and its configs then fail as error rows). The
    placeholders are installed first thing in the package, so
    ``import mmpose.models`` still works after a later failure.

    Returns:
        str | None: The import error, or None when it imported.
    """
    if not _PLUGIN_ERROR:
        try:
            import sadinet_mmpose  # noqa: F401
            _PLUGIN_ERROR.append(None)
        except Exception as e:  # noqa: BLE001
            msg = str(e).strip().splitlines()
            _PLUGIN_ERROR.append(f'{type(e).__name__}: '
                                 f"{msg[0] if msg else ''}")
            try:  # at least the placeholders, if that part is importable
                from sadinet_mmpose.compat.mmcv_lite import \
                    install_mmcv_op_placeholders
                install_mmcv_op_placeholders()
            except Exception:  # noqa: BLE001
                pass
    return _PLUGIN_ERROR[0]


@dataclass
class ModelSpec:
    """One model to benchmark.

    Attributes:
        label: Name shown in the tables.
        config: Config path as given (``mmpose::`` scopes allowed).
    """
    label: str
    config: str


def parse_config_spec(spec: str) -> ModelSpec:
    """Parse ``label=path`` or ``path`` into a :class:`ModelSpec`.

    The part before the first ``=`` is a label only if it does not look like
    a path (no ``/``, no ``::`` and no ``.py``); otherwise the whole string is
    the path and the label is the file name without ``.py``.

    Args:
        spec: The command-line item.

    Returns:
        ModelSpec: The label and the config path.
    """
    if '=' in spec:
        label, path = spec.split('=', 1)
        if label and not any(t in label for t in ('/', '::', '.py')):
            return ModelSpec(label.strip(), path.strip())
    base = osp.basename(spec.replace('::', '/'))
    return ModelSpec(base[:-3] if base.endswith('.py') else base, spec)


def resolve_config_path(path: str) -> str:
    """Return ``path`` as usable by ``Config.fromfile``.

    ``mmpose::rel/path.py`` becomes the file under the installed package's
    ``.mim/configs``; relative file paths are tried against the working
    directory, then against the repository root.

    Args:
        path: The config path.

    Returns:
        str: The resolved path.

    Raises:
        FileNotFoundError: When a file path exists in neither place.
    """
    if '::' in path:
        from mmengine.config.utils import _get_package_and_cfg_path
        from mmengine.utils import get_installed_path
        package, rel = _get_package_and_cfg_path(path)
        resolved = osp.join(
            get_installed_path(package), '.mim', 'configs', rel)
        if not osp.isfile(resolved):
            raise FileNotFoundError(f'config not found: {path} ({resolved})')
        return resolved
    if osp.isfile(path):
        return path
    candidate = osp.join(REPO_ROOT, path)
    if osp.isfile(candidate):
        return candidate
    raise FileNotFoundError(
        f'config not found: {path} (also tried {candidate})')


def load_config(path: str):
    """Load a config (``mmpose::`` scopes and ``custom_imports`` handled).

    Args:
        path: The config path.

    Returns:
        mmengine.Config: The parsed config.
    """
    from mmengine.config import Config
    return Config.fromfile(resolve_config_path(path))


def _scaled(size: Sequence[int], factor: float) -> Tuple[int, int]:
    return tuple(int(round(s * factor)) for s in size)


def override_input_size(cfg_node: Any, size: int) -> Any:
    """Set every ``input_size`` in a config tree to ``(size, size)``.

    ``heatmap_size`` entries that sit next to an ``input_size`` (codec
    configs) are scaled by the same factor, so a 256 -> 64 codec becomes
    128 -> 32 at ``size=128``. Works in place on dicts / lists and returns
    the node.

    Args:
        cfg_node: A config, dict or list.
        size: The new square input side.

    Returns:
        The same node, changed.
    """
    if isinstance(cfg_node, dict):
        if 'input_size' in cfg_node:
            old = cfg_node['input_size']
            old = tuple(old) if isinstance(old, (list, tuple)) else (old, old)
            factor = size / float(old[0])
            cfg_node['input_size'] = (size, size)
            if 'heatmap_size' in cfg_node:
                cfg_node['heatmap_size'] = _scaled(cfg_node['heatmap_size'],
                                                   factor)
        for value in cfg_node.values():
            override_input_size(value, size)
    elif isinstance(cfg_node, (list, tuple)):
        for value in cfg_node:
            override_input_size(value, size)
    return cfg_node


def strip_pretrained(cfg_node: Any) -> List[str]:
    """Remove ``init_cfg=dict(type='Pretrained', ...)`` entries in place.

    Stock configs (e.g. HRNet-w32) load ImageNet weights from a URL in
    ``init_weights``; the benchmark starts every model from
    random initialisation (offline, and the same for all models).

    Returns:
        list[str]: The checkpoints that were dropped.
    """
    dropped = []

    def is_pretrained(x):
        return isinstance(x, dict) and x.get('type') == 'Pretrained'

    if isinstance(cfg_node, dict):
        init = cfg_node.get('init_cfg', None)
        if is_pretrained(init):
            dropped.append(str(init.get('checkpoint')))
            cfg_node['init_cfg'] = None
        elif isinstance(init, (list, tuple)) and any(map(is_pretrained, init)):
            dropped += [
                str(i.get('checkpoint')) for i in init if is_pretrained(i)
            ]
            cfg_node['init_cfg'] = [i for i in init if not is_pretrained(i)]
        for value in cfg_node.values():
            dropped += strip_pretrained(value)
    elif isinstance(cfg_node, (list, tuple)):
        for value in cfg_node:
            dropped += strip_pretrained(value)
    return dropped


def prepare_model_cfg(cfg, input_size: Optional[int] = None) -> Dict:
    """The model config to benchmark (a deep copy).

    Multi-scale testing is switched off (the latency measures the plain
    prediction path), heatmap outputs are not requested and pre-trained
    ``init_cfg`` entries are dropped (:func:`strip_pretrained`).

    Args:
        cfg: The full config.
        input_size: Square input side to override, or None to keep it.

    Returns:
        dict: The model config.
    """
    model_cfg = copy.deepcopy(cfg.model)
    strip_pretrained(model_cfg)
    if input_size is not None:
        override_input_size(model_cfg, input_size)
    test_cfg = dict(model_cfg.get('test_cfg', None) or {})
    test_cfg.pop('multiscale_test', None)
    test_cfg['output_heatmaps'] = False
    model_cfg['test_cfg'] = test_cfg
    return model_cfg


def config_input_size(cfg, override: Optional[int] = None) -> Tuple[int, int]:
    """The (w, h) input size of a config (its codec), or the override."""
    if override is not None:
        return (override, override)
    for node in (cfg.get('codec',
                         None), cfg.model.get('head', {}).get('decoder',
                                                              None)):
        if isinstance(node, dict) and 'input_size' in node:
            return tuple(node['input_size'])
    return (256, 256)


def load_model_cfg(path: str, input_size: Optional[int] = None):
    """A config loaded for measuring: the config, its model config
    (:func:`prepare_model_cfg`) and its (w, h) input size.

    Args:
        path: The config path (``mmpose::`` scopes allowed).
        input_size: Square input side to override, or None.

    Returns:
        tuple: ``(cfg, model_cfg, (w, h))``.
    """
    cfg = load_config(path)
    return (cfg, prepare_model_cfg(cfg, input_size),
            config_input_size(cfg, input_size))


def build_model(model_cfg: Dict, device: str, seed: int = 0):
    """Build an MMPose model from its config on ``device`` (train mode).

    Args:
        model_cfg: The model config.
        device: Torch device string.
        seed: Seed for the weight initialisation.

    Returns:
        nn.Module: The model, weights initialised.
    """
    import_plugin()
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS
    torch.manual_seed(seed)
    if DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('sadinet_benchmark', scope_name='mmpose')
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model = MODELS.build(copy.deepcopy(model_cfg))
        if hasattr(model, 'init_weights'):
            model.init_weights()
    finally:
        logger.setLevel(level)
    return model.to(device).train()


def num_keypoints(model) -> int:
    """Number of joints the model's head predicts."""
    head = getattr(model, 'head', None)
    for attr in ('out_channels', 'num_joints', 'num_keypoints'):
        if head is not None and isinstance(getattr(head, attr, None), int):
            return getattr(head, attr)
    return 16


def flip_indices_for(k: int) -> List[int]:
    """MPII's flip indices for 16 joints, identity otherwise."""
    if k == 16:
        import mmpose
        from mmpose.datasets.datasets.body import MpiiDataset
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        path = osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
            'datasets', 'mpii.py')
        meta = dict(
            from_file=path) if osp.isfile(path) else dict(MpiiDataset.METAINFO)
        return list(parse_pose_metainfo(meta)['flip_indices'])
    return list(range(k))


def make_data_samples(codec,
                      batch: int,
                      input_size: Tuple[int, int],
                      k: int,
                      seed: int = 0,
                      with_targets: bool = True) -> Tuple[List, List]:
    """Random images and data samples made like MMPose's pipeline does.

    Each sample gets random keypoints inside the crop (about 10% invisible),
    targets from the model's own codec through MMPose's ``GenerateTarget``
    (so heatmaps, keypoint_labels, keypoint_weights, ... are whatever the
    head's loss needs) and ``PackPoseInputs`` (metainfo: flip_indices,
    input_size, input_center, input_scale, ...).

    Args:
        codec: The codec config (dict) or instance used by the head.
        batch: Number of samples.
        input_size: (w, h) crop size.
        k: Number of joints.
        seed: Random seed (same seed -> same keypoints for every model).
        with_targets: Run ``GenerateTarget`` (training) or not (inference).

    Returns:
        tuple: ``(inputs, data_samples)`` lists as a dataloader yields them
        (uint8 CHW tensors and ``PoseDataSample``s).
    """
    from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
    rng = np.random.default_rng(seed)
    w, h = input_size
    flip_indices = flip_indices_for(k)
    generate = None
    if with_targets:
        codec_cfg = codec if isinstance(codec, dict) else None
        if codec_cfg is None:
            raise TypeError('make_data_samples needs the codec config (dict)')
        generate = GenerateTarget(encoder=copy.deepcopy(codec_cfg))
    pack = PackPoseInputs()
    inputs, samples = [], []
    for i in range(batch):
        kpts = rng.uniform(0.1, 0.9, size=(1, k, 2)) * np.array([w, h])
        visible = (rng.uniform(size=(1, k)) > 0.1).astype(np.float32)
        results = dict(
            img=rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8),
            img_id=i,
            id=i,
            img_path=f'random_{i}.jpg',
            category_id=1,
            ori_shape=(h, w),
            img_shape=(h, w),
            input_size=(w, h),
            input_center=np.array([[w / 2, h / 2]], dtype=np.float32),
            input_scale=np.array([[w, h]], dtype=np.float32),
            bbox=np.array([[0, 0, w, h]], dtype=np.float32),
            bbox_center=np.array([[w / 2, h / 2]], dtype=np.float32),
            bbox_scale=np.array([[w, h]], dtype=np.float32),
            bbox_score=np.ones(1, dtype=np.float32),
            head_size=np.array([[w / 8.0]], dtype=np.float32),
            keypoints=kpts.astype(np.float32),
            transformed_keypoints=kpts.astype(np.float32),
            keypoints_visible=visible,
            flip=False,
            flip_direction=None,
            flip_indices=flip_indices,
            dataset_name='random')
        if generate is not None:
            results = generate(results)
        packed = pack(results)
        inputs.append(packed['inputs'])
        samples.append(packed['data_samples'])
    return inputs, samples


def preprocess(model, inputs: List, samples: List, training: bool):
    """Run the model's data preprocessor once (moves to device, normalises).

    Returns:
        tuple: ``(batch_inputs, data_samples)`` on the model's device.
    """
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training=training)
    return data['inputs'], data['data_samples']


def head_codec_cfg(model_cfg: Dict) -> Optional[Dict]:
    """The codec config the head decodes / encodes with."""
    head = model_cfg.get('head', None) or {}
    return head.get('decoder', None)
