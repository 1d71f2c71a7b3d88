"""Let mmengine's ``pytorch`` launcher and DDP wrapper run without a GPU.

mmengine 0.10's ``init_dist('pytorch')`` always calls
``torch.cuda.set_device(LOCAL_RANK)``, and ``Runner.wrap_model`` always
gives ``MMDistributedDataParallel`` ``device_ids=[LOCAL_RANK]``; both fail
where no CUDA device exists, so ``tools/dist_train.sh CONFIG N`` (or
``torchrun ... tools/train.py --launcher pytorch``) cannot run on CPU (e.g.
to try the multi-GPU path on a laptop or in CI). When, and only when, CUDA
is unavailable, :func:`allow_cpu_distributed`

1. wraps mmengine's launcher so that it skips ``set_device`` and uses the
   ``gloo`` backend (``nccl`` needs GPUs);
2. wraps ``Runner.wrap_model`` so that a DDP wrapper gets
   ``device_ids=None`` (what torch's DDP requires for a CPU module) unless
   the config's ``model_wrapper_cfg`` sets ``device_ids`` itself.

With CUDA nothing is changed.

Upstream: mmengine 0.10.7 (``init_dist('pytorch')`` and ``Runner.wrap_model``)
on machines without CUDA.
Drop when: mmengine's launcher and DDP wrapper start without a GPU; the canary
test says so.
"""
import copy

import torch


def _patch_launcher() -> None:
    """Make ``init_dist('pytorch')`` start without CUDA (gloo, no
    set_device)."""
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, 'sadinet_cpu', False):
        return

    def _init_dist_pytorch_cpu(backend, init_backend='torch', **kwargs):
        import torch.distributed as torch_dist
        if init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch_cpu.sadinet_cpu = True
    _init_dist_pytorch_cpu.__wrapped__ = original
    dist_utils._init_dist_pytorch = _init_dist_pytorch_cpu


def cpu_model_wrapper_cfg(model_wrapper_cfg, cfg) -> dict:
    """The ``model_wrapper_cfg`` to use for distributed training on CPU.

    Args:
        model_wrapper_cfg (dict | None): The config's ``model_wrapper_cfg``.
        cfg (Config | dict): The whole config (for
            ``find_unused_parameters`` when no wrapper is configured).

    Returns:
        dict: ``model_wrapper_cfg`` with ``device_ids=None`` added when the
        wrapper is a ``DistributedDataParallel`` and sets no ``device_ids``;
        for ``None``, mmengine's default wrapper (``MMDistributedDataParallel``
        with ``broadcast_buffers=False`` and the config's
        ``find_unused_parameters``) with ``device_ids=None``.
    """
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    if model_wrapper_cfg is None:
        return dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
            device_ids=None)
    wrapper_cfg = copy.deepcopy(model_wrapper_cfg)
    wrapper_type = wrapper_cfg.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(
            wrapper_type, DistributedDataParallel) and \
            'device_ids' not in wrapper_cfg:
        wrapper_cfg['device_ids'] = None
    return wrapper_cfg


def _patch_wrap_model() -> None:
    """Give ``Runner.wrap_model``'s DDP wrapper ``device_ids=None``."""
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner
    original = Runner.wrap_model
    if getattr(original, 'sadinet_cpu', False):
        return

    def wrap_model(self, model_wrapper_cfg, model):
        if self.distributed and not is_model_wrapper(model):
            model_wrapper_cfg = cpu_model_wrapper_cfg(model_wrapper_cfg,
                                                      self.cfg)
            self.logger.info(
                'No CUDA device: the model is wrapped for distributed '
                f'training on the CPU ({model_wrapper_cfg.get("type")}, '
                f'device_ids={model_wrapper_cfg.get("device_ids")}).')
        return original(self, model_wrapper_cfg, model)

    wrap_model.sadinet_cpu = True
    wrap_model.__wrapped__ = original
    wrap_model.__doc__ = original.__doc__
    Runner.wrap_model = wrap_model


def allow_cpu_distributed() -> bool:
    """Patch mmengine's pytorch launcher and DDP wrapping for CPU-only
    machines.

    Returns:
        bool: True if patched (no CUDA here), False otherwise.
    """
    if torch.cuda.is_available():
        return False
    _patch_launcher()
    _patch_wrap_model()
    return True
