"""Patches for failures of the pinned upstream stack, one module each.

Each module's docstring names the upstream versions it works around and the
condition for dropping it; ``tests/test_compat/test_patches_needed.py``
checks, for each, that the failure still happens without it.

- :mod:`.mmcv_lite`, :mod:`.mmcv_lite_boot`: ``import mmpose.models`` on
  mmcv-lite;
- :mod:`.torch_weights_only`: mmengine checkpoints under torch >= 2.6;
- :mod:`.cpu_distributed`: mmengine's ``pytorch`` launcher without CUDA;
- :mod:`.visualizer_numpy`: MMPose's keypoint drawing under numpy >= 2.4;
- :mod:`.inferencer_sigmas`: the sigmas in MMPose's inferencer output.

:mod:`.on_import` applies a patch when its upstream module is imported.
"""
from .cpu_distributed import allow_cpu_distributed
from .inferencer_sigmas import install_inferencer_sigmas, with_sigma_fields
from .mmcv_lite import (MmcvOpsUnavailableError, install_mmcv_op_placeholders,
                        mmcv_ops_available)
from .torch_weights_only import (allow_mmengine_checkpoint_globals,
                                 mmengine_checkpoint_globals)
from .visualizer_numpy import (install_visualizer_compat,
                               install_visualizer_compat_on_import,
                               opencv_circles_accept_array_radius)

__all__ = [
    'allow_cpu_distributed', 'install_visualizer_compat',
    'install_visualizer_compat_on_import',
    'opencv_circles_accept_array_radius', 'allow_mmengine_checkpoint_globals',
    'mmengine_checkpoint_globals', 'MmcvOpsUnavailableError',
    'install_mmcv_op_placeholders', 'mmcv_ops_available',
    'install_inferencer_sigmas', 'with_sigma_fields'
]
