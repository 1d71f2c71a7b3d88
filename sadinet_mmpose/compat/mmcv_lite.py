"""Let ``import mmpose.models`` work on mmcv-lite (mmcv without compiled ops).

MMPose 1.3.2 imports ``MultiScaleDeformableAttention`` from ``mmcv.ops`` at
import time (EDPose's head and its deformable-DETR layers), and
``DeformConv2d`` / ``ModulatedDeformConv2d`` inside ``try`` blocks (DEKR,
PoseWarper, the optimizer constructor). ``mmcv.ops`` needs mmcv's compiled
extension ``mmcv._ext``, which mmcv-lite 2.1.0 (pinned by
``tools/setup_env.sh``) does not have, so ``import mmpose.models`` fails
there although nothing SADI-Net needs uses an mmcv op.

:func:`install_mmcv_op_placeholders` puts a stand-in ``mmcv.ops`` module in
``sys.modules`` holding placeholders for exactly those three classes. A
placeholder imports fine and raises :class:`MmcvOpsUnavailableError` with
install instructions the moment anything constructs it; any other name taken
from the stand-in raises ``ImportError`` with the same instructions (so the
``try: from mmcv.ops import X / except ImportError`` fallbacks of MMPose keep
working). When mmcv's compiled ops are present nothing is patched.

Upstream: mmcv-lite 2.1.0 (no ``mmcv._ext``) under MMPose 1.3.2.
Drop when: an MMPose release imports no ``mmcv.ops`` class at import time, or
the project requires full mmcv; ``tests/test_compat/test_patches_needed.py``
then fails and says so.
"""
import importlib.util
import sys
import types

#: The op classes MMPose 1.3.2 imports from ``mmcv.ops`` while importing.
PLACEHOLDER_OPS = ('MultiScaleDeformableAttention', 'DeformConv2d',
                   'ModulatedDeformConv2d')

_INSTALL_HINT = (
    'mmcv.ops.{name} needs mmcv with compiled ops, but this environment has '
    'mmcv-lite (no mmcv._ext). SADI-Net does not use it; the MMPose model '
    'that asked for it does. Install full mmcv 2.1.x, e.g. '
    '`pip uninstall -y mmcv-lite && MMCV_WITH_OPS=1 pip install '
    '--no-build-isolation mmcv==2.1.0` (about 12 minutes on 2 CPU cores), '
    'or `mim install "mmcv==2.1.0"` where a prebuilt wheel exists for your '
    'torch/CUDA.')


class MmcvOpsUnavailableError(RuntimeError):
    """Raised when a placeholder of a compiled mmcv op is actually used."""


def mmcv_ops_available() -> bool:
    """Whether mmcv's compiled extension (``mmcv._ext``) can be imported."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _make_placeholder(name: str) -> type:
    import torch.nn as nn

    def __init__(self, *args, **kwargs):
        raise MmcvOpsUnavailableError(_INSTALL_HINT.format(name=name))

    return type(
        name, (nn.Module, ), {
            '__init__': __init__,
            '__doc__': f'Placeholder of ``mmcv.ops.{name}`` (mmcv-lite); '
            'raises MmcvOpsUnavailableError when built.',
            '__module__': 'mmcv.ops',
            'is_sadinet_placeholder': True,
        })


def _module_getattr(name: str):
    if name.startswith('__'):
        raise AttributeError(name)
    raise ImportError(_INSTALL_HINT.format(name=name))


def install_mmcv_op_placeholders() -> bool:
    """Install the ``mmcv.ops`` stand-in if (and only if) mmcv ops are missing.

    Returns:
        bool: True if the stand-in was installed (now or earlier), False if
        the real ``mmcv.ops`` is available and nothing was patched.
    """
    existing = sys.modules.get('mmcv.ops')
    if existing is not None:
        return bool(getattr(existing, 'is_sadinet_placeholder', False))
    if importlib.util.find_spec('mmcv') is None or mmcv_ops_available():
        return False
    import mmcv

    module = types.ModuleType(
        'mmcv.ops',
        doc='sadinet_mmpose stand-in for '
        'mmcv.ops on mmcv-lite (see '
        'sadinet_mmpose.compat.mmcv_lite).')
    for name in PLACEHOLDER_OPS:
        setattr(module, name, _make_placeholder(name))
    module.__getattr__ = _module_getattr
    module.__all__ = list(PLACEHOLDER_OPS)
    module.is_sadinet_placeholder = True
    sys.modules['mmcv.ops'] = module
    mmcv.ops = module
    return True
