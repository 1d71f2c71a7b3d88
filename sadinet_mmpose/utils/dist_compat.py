"""Let mmengine's ``pytorch`` launcher start on machines without a GPU.

mmengine 0.10's ``init_dist('pytorch')`` always calls
``torch.cuda.set_device(LOCAL_RANK)``, which fails where no CUDA device
exists, so ``torchrun ... tools/train.py --launcher pytorch`` cannot run on
CPU (e.g. to try the multi-GPU path on a laptop or in CI). When, and only
when, CUDA is unavailable, :func:`allow_cpu_distributed` wraps mmengine's
launcher so that it skips ``set_device`` and uses the ``gloo`` backend
(``nccl`` needs GPUs). With CUDA nothing is changed.

The model wrapper must also be told not to pin a device on CPU:
``--cfg-options model_wrapper_cfg.type=MMDistributedDataParallel
model_wrapper_cfg.device_ids=None``.
"""
import torch


def allow_cpu_distributed() -> bool:
    """Patch mmengine's pytorch launcher for CPU-only machines.

    Returns:
        bool: True if patched (no CUDA here), False otherwise.
    """
    if torch.cuda.is_available():
        return False
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, 'sadinet_cpu', False):
        return True

    def _init_dist_pytorch_cpu(backend, init_backend='torch', **kwargs):
        import torch.distributed as torch_dist
        if init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch_cpu.sadinet_cpu = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch_cpu
    return True
