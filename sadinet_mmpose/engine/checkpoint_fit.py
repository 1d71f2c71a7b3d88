"""One check that a checkpoint holds the weights of the model a config builds.

Every tool that loads a checkpoint into a model built from a config
(``tools/demo.py``, ``tools/calibrate_sigma.py``, the ONNX exporter, and the
runner's :class:`CheckpointGuardHook`) asks the same question: do the
checkpoint's tensors fit the model's? This module answers it once.
"""
import os.path as osp
from typing import Dict, Tuple


class CheckpointMismatchError(ValueError):
    """A checkpoint that is missing, unreadable or of another model."""


def strip_ddp(state: Dict) -> Dict:
    """The state dict without DDP's ``module.`` prefix."""
    return {
        k[7:] if k.startswith('module.') else k: v
        for k, v in state.items()
    }


#: Modules a checkpoint may lack entirely: they load in their initial
#: (unfitted) state (:class:`~sadinet_mmpose.models.KeypointErrorHead`).
OPTIONAL_MODULES = ('error_head.', )


def _absent_optional(model_state: Dict, ckpt: Dict) -> set:
    """The model keys of optional modules of which ``ckpt`` has no key."""
    absent = set()
    for key in model_state:
        for name in OPTIONAL_MODULES:
            at = key.find(name)
            if at == 0 or (at > 0 and key[at - 1] == '.'):
                prefix = key[:at + len(name)]
                if not any(k.startswith(prefix) for k in ckpt):
                    absent.add(key)
    return absent


def checkpoint_fit(model_state: Dict, ckpt_state: Dict) -> dict:
    """How a checkpoint's state dict fits a model's.

    Args:
        model_state (dict): The model's ``state_dict()``.
        ckpt_state (dict): The checkpoint's state dict (``module.`` ignored).

    Returns:
        dict: ``total`` (model keys), ``fit`` (model keys present with the
        same shape), ``shapes`` (``(key, checkpoint shape, model shape)``),
        ``missing`` and ``unexpected`` (key lists). The keys of an
        optional module the checkpoint lacks entirely
        (:data:`OPTIONAL_MODULES`) count as fitting.
    """
    ckpt = strip_ddp(ckpt_state)
    shapes = [(k, tuple(ckpt[k].shape), tuple(v.shape))
              for k, v in model_state.items()
              if k in ckpt and hasattr(ckpt[k], 'shape')
              and tuple(ckpt[k].shape) != tuple(v.shape)]
    optional = _absent_optional(model_state, ckpt)
    missing = [k for k in model_state if k not in ckpt and k not in optional]
    unexpected = [k for k in ckpt if k not in model_state]
    return dict(
        total=len(model_state),
        fit=len(model_state) - len(missing) - len(shapes),
        shapes=shapes,
        missing=missing,
        unexpected=unexpected)


def fit_line(fit: dict) -> str:
    """One line describing a :func:`checkpoint_fit` result."""
    share = 100. * fit['fit'] / max(fit['total'], 1)
    parts = [f'{fit["fit"]} of {fit["total"]} model keys fit ({share:.0f} %)']
    if fit['shapes']:
        k, got, want = fit['shapes'][0]
        parts.append(f'{len(fit["shapes"])} shape mismatches (checkpoint vs '
                     f'model: {k} {got} vs {want})')
    if fit['missing']:
        parts.append(f'{len(fit["missing"])} model weights missing (e.g. '
                     f'{fit["missing"][0]})')
    if fit['unexpected']:
        parts.append(f'{len(fit["unexpected"])} unknown weights (e.g. '
                     f'{fit["unexpected"][0]})')
    return '; '.join(parts)


def read_checkpoint(path: str) -> Tuple[dict, dict]:
    """Read a checkpoint file with errors that name it.

    Args:
        path (str): An mmengine / MMPose checkpoint.

    Returns:
        tuple[dict, dict]: The whole checkpoint and its state dict.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    if not osp.isfile(path):
        raise CheckpointMismatchError(f'checkpoint {path} does not exist')
    try:
        ckpt = _load_checkpoint(path, map_location='cpu')
    except Exception as e:  # torch / zip / pickle errors
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointMismatchError(
            f'checkpoint {path} cannot be read (truncated or not a '
            f'checkpoint): {first}') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f'checkpoint {path} holds no state dict')
    return ckpt, state


def load_fitting_checkpoint(model, path: str, config: str = 'the config'):
    """Load ``path`` into ``model`` only if every weight fits exactly.

    Args:
        model (nn.Module): The model the config built.
        path (str): The checkpoint.
        config (str): The config's name, for the message. Defaults to
            'the config'.

    Returns:
        dict: The whole checkpoint (``meta`` and the rest).
    """
    ckpt, state = read_checkpoint(path)
    fit = checkpoint_fit(model.state_dict(), state)
    if fit['fit'] != fit['total'] or fit['unexpected']:
        raise CheckpointMismatchError(
            f'checkpoint {path} does not fit {config}: {fit_line(fit)}')
    model.load_state_dict(strip_ddp(state), strict=True)
    return ckpt
