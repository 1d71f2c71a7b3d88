"""Check a model config and the built model's wiring before anything runs.

* :func:`check_module_cfg` walks a model config and stops at the first
  unknown module type or unknown option with the dotted place where it
  appears (``model.head.loss.weighting``) and the options that exist, before
  any weights are built. mmengine would otherwise report a bare
  ``TypeError`` from deep inside the build.
* :func:`check_model_wiring` compares declared channel counts between a
  built backbone, neck and head and names both values when they differ.
"""
import difflib
import inspect
from typing import Optional, Sequence

from mmpose.registry import KEYPOINT_CODECS, MODELS

# Keys whose dicts belong to a registry other than MODELS, or to mmcv's layer
# builders / weight initialisers, which are checked when built.
_CODEC_KEYS = ('decoder', 'encoder', 'codec')
_SKIP_KEYS = ('init_cfg', 'norm_cfg', 'act_cfg', 'conv_cfg', 'upsample_cfg',
              'data_preprocessor', 'train_cfg', 'test_cfg')


def _accepts(cls, key: str) -> Optional[bool]:
    """Whether ``cls(**{key: ...})`` is accepted; None when it cannot be
    told."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None
    params = sig.parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return None
    return key in params


def _options(cls) -> list:
    sig = inspect.signature(cls.__init__)
    return [
        n for n, p in sig.parameters.items()
        if n != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def check_module_cfg(cfg: dict, where: str, registry=MODELS) -> None:
    """Raise if ``cfg`` names an unknown module type or option.

    Args:
        cfg (dict): A module config with a ``type`` key.
        where (str): Its dotted place in the whole config, for messages
            (e.g. ``'model.head'``).
        registry (Registry): The registry ``cfg['type']`` belongs to.
            Defaults to MMPose's ``MODELS``.

    Raises:
        KeyError: ``cfg['type']`` is not registered (close names suggested).
        TypeError: a key is not an argument of the module's constructor.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return
    type_name = cfg['type']
    if isinstance(type_name, str):
        cls = registry.get(type_name)
        if cls is None:
            names = list(registry.module_dict)
            if registry.parent is not None:
                names += list(registry.parent.module_dict)
            close = difflib.get_close_matches(type_name, names, n=3)
            hint = (f'; did you mean {", ".join(map(repr, close))}?'
                    if close else '')
            raise KeyError(
                f'{where}.type={type_name!r} is not a registered '
                f'{registry.name} module (is the plugin imported through '
                f"custom_imports=dict(imports=['sadinet_mmpose'])?){hint}")
    else:
        cls = type_name
    for key, value in cfg.items():
        if key in ('type', '_scope_', '_delete_'):
            continue
        if _accepts(cls, key) is False:
            close = difflib.get_close_matches(key, _options(cls), n=3)
            hint = (f'; did you mean {", ".join(map(repr, close))}?'
                    if close else '')
            raise TypeError(
                f'{where}.{key}: {cls.__name__} has no option {key!r}{hint} '
                f'(its options: {", ".join(_options(cls))})')
        if key in _SKIP_KEYS:
            continue
        sub_registry = KEYPOINT_CODECS if key in _CODEC_KEYS else MODELS
        if isinstance(value, dict):
            check_module_cfg(value, f'{where}.{key}', sub_registry)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    check_module_cfg(item, f'{where}.{key}[{i}]', sub_registry)


def _channels(module, attr: str) -> Optional[Sequence[int]]:
    value = getattr(module, attr, None)
    if isinstance(value, int):
        return (value, )
    if isinstance(value,
                  (list, tuple)) and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def check_model_wiring(backbone, neck=None, head=None) -> None:
    """Compare declared channels along backbone -> neck -> head.

    Modules that do not declare their channels (many stock backbones) are
    skipped. Declared attributes used: backbone ``out_channels`` (one entry
    per returned feature); neck ``in_channels``, ``in_indices``,
    ``keep_indices`` and ``out_channels`` (the pooled vector); head
    ``in_channels`` and ``vec_channels``.

    Raises:
        ValueError: naming the two modules, the feature and both values.
    """
    feats = _channels(backbone, 'out_channels')
    b_name = type(backbone).__name__
    if neck is not None and feats is not None and hasattr(neck, 'in_indices'):
        n_name = type(neck).__name__
        n_in = _channels(neck, 'in_channels') or ()
        for i, (idx, want) in enumerate(zip(neck.in_indices, n_in)):
            if idx >= len(feats) or -idx > len(feats):
                raise ValueError(
                    f'{n_name}.in_indices[{i}]={idx}, but {b_name} returns '
                    f'only {len(feats)} features (channels {feats})')
            if feats[idx] != want:
                raise ValueError(
                    f'channel mismatch: {b_name} feature {idx} has '
                    f'{feats[idx]} channels, but {n_name}.in_channels[{i}]='
                    f'{want}')
        keep = getattr(neck, 'keep_indices', None)
        if keep is None:
            keep = [i for i in range(len(feats)) if i not in neck.in_indices]
        kept = tuple(feats[i] for i in keep)
        vec = _channels(neck, 'out_channels')
        feats = kept + (vec or (None, ))
        if head is not None and vec is not None and hasattr(
                head, 'vec_channels'):
            if head.vec_channels != vec[0]:
                raise ValueError(
                    f'channel mismatch: {n_name}.out_channels={vec[0]} (the '
                    f'pooled vector), but {type(head).__name__}.vec_channels='
                    f'{head.vec_channels}')
        spatial = kept
    else:
        spatial = feats
    if head is None or not spatial:
        return
    h_in = getattr(head, 'in_channels', None)
    if isinstance(h_in,
                  int) and spatial[-1] is not None and spatial[-1] != h_in:
        src = f'{type(neck).__name__} (passed-through feature)' if (
            neck is not None and hasattr(neck, 'in_indices')) else b_name
        raise ValueError(
            f'channel mismatch: {src} gives a last spatial feature of '
            f'{spatial[-1]} channels, but {type(head).__name__}.in_channels='
            f'{h_in}')
