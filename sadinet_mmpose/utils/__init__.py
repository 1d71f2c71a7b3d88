"""Environment compatibility helpers (mmcv-lite, torch >= 2.6 checkpoints,
CPU-only distributed training, MMPose's visualiser under numpy >= 2.4)."""
from .checkpoint_compat import (allow_mmengine_checkpoint_globals,
                                mmengine_checkpoint_globals)
from .dist_compat import allow_cpu_distributed
from .mmcv_compat import (MmcvOpsUnavailableError, install_mmcv_op_placeholders,
                          mmcv_ops_available)
from .visualizer_compat import (install_visualizer_compat,
                                install_visualizer_compat_on_import,
                                opencv_circles_accept_array_radius)

__all__ = [
    'allow_cpu_distributed', 'install_visualizer_compat',
    'install_visualizer_compat_on_import',
    'opencv_circles_accept_array_radius',
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals',
    'MmcvOpsUnavailableError', 'install_mmcv_op_placeholders',
    'mmcv_ops_available'
]
