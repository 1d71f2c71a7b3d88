"""Flush denormal floats to zero while the model trains on the CPU."""
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS


@HOOKS.register_module()
class FlushDenormalHook(Hook):
    """Call ``torch.set_flush_denormal(True)`` when a run on the CPU starts.

    Hourglass networks start from weights drawn with std 0.001 (MMPose's
    init), so early activations and gradients fall into the float32 denormal
    range, where x86 CPUs are many times slower (``benchmarks/README.md``
    gives the measurement). Flushing changes results only below 1.2e-38.

    The flag acts on CPU arithmetic only: where the model's parameters are on
    another device (CUDA), no denormals of the model arise on the CPU, so the
    hook leaves the flag alone and logs one line saying so. The same config
    can therefore keep the hook for CPU and GPU runs.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Flush denormals if the model is on the CPU; else log and return.

        Args:
            runner (Runner): The runner; its model is already on its device.
        """
        model = getattr(runner.model, 'module', runner.model)
        device = next((p.device for p in model.parameters()),
                      torch.device('cpu'))
        if device.type != 'cpu':
            print_log(
                f'FlushDenormalHook: the model is on {device}, no CPU '
                'denormals to flush: nothing changed',
                logger='current')
        elif torch.set_flush_denormal(True):
            print_log(
                'FlushDenormalHook: denormal floats are flushed to zero '
                'on the CPU',
                logger='current')
        else:
            print_log(
                'FlushDenormalHook: this CPU cannot flush denormal '
                'floats (no SSE3): nothing changed',
                logger='current')
