"""Environment compatibility helpers (mmcv-lite, torch >= 2.6 checkpoints)."""
from .checkpoint_compat import (allow_mmengine_checkpoint_globals,
                                mmengine_checkpoint_globals)
from .dist_compat import allow_cpu_distributed
from .mmcv_compat import (MmcvOpsUnavailableError, install_mmcv_op_placeholders,
                          mmcv_ops_available)

__all__ = [
    'allow_cpu_distributed',
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals',
    'MmcvOpsUnavailableError', 'install_mmcv_op_placeholders',
    'mmcv_ops_available'
]
