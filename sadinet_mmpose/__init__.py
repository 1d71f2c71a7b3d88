"""sadinet_mmpose: SADI-Net (Spatial Attention-based Distribution Integration
Network) as an MMPose 1.x plugin.

Importing the package (directly, or through a config's ``custom_imports``)

1. gives ``mmcv.ops`` placeholders on mmcv-lite, so ``import mmpose.models``
   works without mmcv's compiled ops (nothing is patched on full mmcv);
2. allow-lists the types mmengine checkpoints contain for torch >= 2.6's
   weights-only loading (so ``--resume`` and testing from a checkpoint work);
3. lets mmengine's ``pytorch`` launcher and its DDP wrapper run on machines
   without CUDA (gloo backend, no device ids; nothing changes where CUDA
   exists);
4. lets MMPose's visualiser draw keypoints under numpy >= 2.4 (patched only
   where the installed one fails, once MMPose imports it);
5. registers every module of the project into MMPose's registries.

Without PyTorch (a deployment machine with ONNX Runtime only) none of that
applies: the package then offers :mod:`sadinet_mmpose.deploy`'s runtime and
the torch-free decoding in :mod:`sadinet_mmpose.codecs.decoding`.
"""
from .version import __version__

try:
    import torch  # noqa: F401
except ImportError:
    _WITH_TORCH = False
else:
    _WITH_TORCH = True

if _WITH_TORCH:
    from .compat.mmcv_lite import install_mmcv_op_placeholders

    install_mmcv_op_placeholders()

    from .compat.torch_weights_only import allow_mmengine_checkpoint_globals

    allow_mmengine_checkpoint_globals()

    from .compat.cpu_distributed import allow_cpu_distributed

    allow_cpu_distributed()

    from .compat.visualizer_numpy import install_visualizer_compat_on_import

    install_visualizer_compat_on_import()

    from .compat.inferencer_sigmas import install_inferencer_sigmas

    install_inferencer_sigmas()

    from .codecs import *  # noqa: F401,F403
    from .datasets import *  # noqa: F401,F403
    from .engine import *  # noqa: F401,F403
    from .evaluation import *  # noqa: F401,F403
    from .models import *  # noqa: F401,F403

    # sadinet_mmpose.visualization (SigmaPoseVisualizer) is imported where
    # it is used: importing it here would import MMPose's visualiser and
    # torchvision with every config that loads the plugin

__all__ = ['__version__']
