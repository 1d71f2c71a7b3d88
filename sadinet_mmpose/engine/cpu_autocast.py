"""bfloat16 autocast for training on the CPU."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmpose.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward and loss run under CPU bf16 autocast.

    mmengine's ``AmpOptimWrapper`` needs a GPU. On a CPU with bf16 matrix
    units (AVX-512 BF16, AMX) ``torch.autocast('cpu', torch.bfloat16)``
    runs convolutions and matrix products in bfloat16; the rest, and every
    part of the model that turns autocast off (the DLM head's density
    maths, the RealNVP flow, the chi-weighted loss), stays in float32.
    bfloat16 has float32's exponent range, so no loss scaling is needed.
    Parameters, gradients and the optimizer state stay float32.

    Args:
        enabled (bool): Turn autocast on. Defaults to True.
        **kwargs: The arguments of ``OptimWrapper``.
    """

    def __init__(self, enabled: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.enabled = bool(enabled)

    @contextmanager
    def optim_context(self, model):
        """The base context (gradient accumulation) under CPU autocast."""
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=torch.bfloat16,
                enabled=self.enabled):
            yield
