"""sadinet_mmpose: SADI-Net (Spatial Attention-based Distribution Integration
Network) as an MMPose 1.x plugin.

Importing the package (directly, or through a config's ``custom_imports``)

1. gives ``mmcv.ops`` placeholders on mmcv-lite, so ``import mmpose.models``
   works without mmcv's compiled ops (nothing is patched on full mmcv);
2. allow-lists the types mmengine checkpoints contain for torch >= 2.6's
   weights-only loading (so ``--resume`` and testing from a checkpoint work);
3. lets mmengine's ``pytorch`` launcher run on machines without CUDA
   (gloo backend; nothing changes where CUDA exists);
4. registers every module of the project into MMPose's registries.
"""
from .utils.mmcv_compat import install_mmcv_op_placeholders
from .version import __version__

install_mmcv_op_placeholders()

from .utils.checkpoint_compat import allow_mmengine_checkpoint_globals  # noqa: E402

allow_mmengine_checkpoint_globals()

from .utils.dist_compat import allow_cpu_distributed  # noqa: E402

allow_cpu_distributed()

from .codecs import *  # noqa: E402,F401,F403
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .evaluation import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403

__all__ = ['__version__']
