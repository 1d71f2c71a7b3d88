"""Measurements: size, FLOPs, training throughput, latency, memory, peak."""
import contextlib
import gc
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional

import torch
from torch import nn

PRECISIONS = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
FLAGS = {
    'cl': 'channels_last',
    'channels_last': 'channels_last',
    'compile': 'compile'
}


@dataclass(frozen=True)
class Mode:
    """A precision / memory-format / compile setting, e.g. ``bf16+cl``.

    Attributes:
        name: The canonical name (``fp32``, ``bf16+cl+compile``, ...).
        precision: ``fp32``, ``fp16`` or ``bf16``.
        channels_last: Model and inputs in channels_last memory format.
        compile: ``torch.compile`` of the backbone.
    """
    name: str
    precision: str
    channels_last: bool
    compile: bool

    @property
    def amp_dtype(self) -> Optional[torch.dtype]:
        """The autocast dtype, None for fp32."""
        return PRECISIONS[self.precision]


def parse_mode(text: str) -> Mode:
    """Parse ``fp16``, ``bf16+cl``, ``bf16+cl+compile``, ``cl`` ...

    Raises:
        ValueError: On an unknown token or two precisions.
    """
    precision, cl, comp = None, False, False
    for token in filter(None, (t.strip().lower() for t in text.split('+'))):
        if token in PRECISIONS:
            if precision is not None:
                raise ValueError(f'mode {text!r}: two precisions')
            precision = token
        elif FLAGS.get(token) == 'channels_last':
            cl = True
        elif token == 'compile':
            comp = True
        else:
            raise ValueError(
                f'mode {text!r}: unknown part {token!r} (use fp32, fp16, '
                'bf16, cl/channels_last, compile joined by +)')
    precision = precision or 'fp32'
    name = '+'.join([precision] + (['cl'] if cl else []) +
                    (['compile'] if comp else []))
    return Mode(name, precision, cl, comp)


def synchronize(device: str) -> None:
    """Wait for queued kernels (CUDA only; no-op on CPU)."""
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def short_error(exc: BaseException, limit: int = 300) -> str:
    """One-line ``Type: message`` of an exception, truncated."""
    msg = str(exc).strip().splitlines()
    first = msg[0] if msg else ''
    text = f'{type(exc).__name__}: {first}'
    return text if len(text) <= limit else text[:limit - 3] + '...'


# --------------------------------------------------------------------------
# bf16 / fp16 safety of stock heads
# --------------------------------------------------------------------------
def _to_float32(x):
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() and x.dtype != torch.float32:
            return x.float()
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_float32(v) for v in x)
    return x


@contextlib.contextmanager
def float32_to_numpy() -> Iterator[List[str]]:
    """Make MMPose heads' ``to_numpy`` cast low-precision tensors to float32.

    Stock heads (``HeatmapHead``, ``CPMHead``, ...) compute their training
    accuracy and decode predictions through ``mmpose.utils.to_numpy``; numpy
    has no bfloat16, so under bf16 autocast they raise ``Got unsupported
    ScalarType BFloat16``. Inside this context every module of
    ``mmpose.models`` / ``sadinet_mmpose`` that imported ``to_numpy`` gets a
    wrapper casting fp16/bf16 tensors to float32 first (fp32 tensors pass
    unchanged, so fp32 numbers are unaffected). Restored on exit.

    Yields:
        list[str]: Names of the patched modules.
    """
    from mmpose.utils import tensor_utils
    original = tensor_utils.to_numpy

    def to_numpy(x, return_device=False, unzip=False):
        return original(
            _to_float32(x), return_device=return_device, unzip=unzip)

    patched = []
    for name, module in list(sys.modules.items()):
        wanted = name.startswith(('mmpose.models', 'sadinet_mmpose'))
        if module is None or not wanted:
            continue
        if getattr(module, 'to_numpy', None) is original:
            module.to_numpy = to_numpy
            patched.append(name)
    try:
        yield patched
    finally:
        for name in patched:
            sys.modules[name].to_numpy = original


# --------------------------------------------------------------------------
# size
# --------------------------------------------------------------------------
class _TensorForward(nn.Module):
    """``model._forward`` as a module (what MMPose's get_flops analyses)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model._forward(x)


def count_params(model: nn.Module) -> int:
    """All parameters of the model (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size, device: str) -> int:
    """Multiply-adds of one ``1x3xHxW`` forward, as mmengine's counter counts.

    Args:
        model: The pose estimator (its ``_forward``: backbone, neck, head).
        input_size: (w, h).
        device: Device of the model.

    Returns:
        int: mmengine's ``flops`` figure (multiply-adds).
    """
    import logging

    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger
    w, h = input_size
    was_training = model.training
    model.eval()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # the counter warns about every op
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                _TensorForward(model),
                inputs=(torch.randn(1, 3, h, w, device=device), ),
                show_table=False,
                show_arch=False)
    finally:
        logger.setLevel(level)
        model.train(was_training)
    return int(info['flops'])


# --------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------
def _rss_bytes() -> int:
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        import resource
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _malloc_trim() -> None:
    """glibc ``malloc_trim(0)`` (best effort; no-op elsewhere)."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemoryMeter:
    """Peak memory of a measured section.

    On CUDA: ``torch.cuda.max_memory_allocated`` after a reset at
    :meth:`start` (tensors allocated by the caching allocator: weights,
    gradients, optimizer state, activations). On CPU: the peak of the
    process RSS sampled every 5 ms by a thread, minus the RSS at
    :meth:`start` after ``malloc_trim`` (so weights built before ``start``
    are not counted; an approximation: the allocator may still reuse memory
    freed earlier that it did not hand back).
    """

    def __init__(self, device: str):
        self.cuda = str(device).startswith('cuda')
        self.device = device
        self._base = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread = None

    @property
    def kind(self) -> str:
        """What :meth:`stop` reports."""
        return ('torch.cuda.max_memory_allocated'
                if self.cuda else 'peak RSS increase (sampled every 5 ms)')

    def start(self) -> None:
        """Reset the peak counter."""
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        gc.collect()
        _malloc_trim()  # hand freed heap back, so the baseline is honest
        self._base = self._peak = _rss_bytes()
        self._stop.clear()

        def sample():
            while not self._stop.wait(0.005):
                self._peak = max(self._peak, _rss_bytes())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        """Stop and return the peak in GiB."""
        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated(self.device) / 2**30
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._peak = max(self._peak, _rss_bytes())
        return max(0, self._peak - self._base) / 2**30


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------
def build_optimizer(model: nn.Module, optim_wrapper_cfg: Dict):
    """The config's optimizer (paramwise settings honoured) and clip_grad.

    The wrapper type is forced to the plain ``OptimWrapper`` (the precision
    is the benchmark's mode, not the config's), only its optimizer is kept.

    Returns:
        tuple: ``(optimizer, clip_grad dict or None)``.
    """
    import copy

    from mmengine.optim import build_optim_wrapper
    cfg = copy.deepcopy(dict(optim_wrapper_cfg))
    clip = cfg.pop('clip_grad', None)
    cfg['type'] = 'OptimWrapper'
    for key in ('dtype', 'loss_scale', 'accumulative_counts'):
        cfg.pop(key, None)
    wrapper = build_optim_wrapper(model, cfg)
    return wrapper.optimizer, clip


def autocast_ctx(device: str, mode: Mode):
    """``torch.autocast`` for the mode (a null context for fp32)."""
    if mode.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(
        device_type=str(device).split(':')[0], dtype=mode.amp_dtype)


def apply_mode(model: nn.Module,
               mode: Mode,
               compile_mode: Optional[str],
               training: bool = False):
    """channels_last and/or ``torch.compile`` of the backbone, in place.

    ``training`` is accepted for symmetry with the callers and changes
    nothing."""
    if mode.channels_last:
        model.to(memory_format=torch.channels_last)
    if mode.compile:
        kwargs = {} if compile_mode in (None,
                                        'default') else dict(mode=compile_mode)
        model.backbone = torch.compile(model.backbone, **kwargs)
    return model


def make_train_step(model: nn.Module, optimizer, clip: Optional[Dict],
                    inputs: torch.Tensor, samples: List, device: str,
                    mode: Mode) -> Callable[[], torch.Tensor]:
    """A closure doing one full training step; returns the (detached) loss.

    Step: forward + loss (under autocast for fp16/bf16) -> backward (scaled
    by ``torch.amp.GradScaler`` for fp16) -> the config's gradient clipping
    if any -> optimizer step -> zero_grad. The data preprocessor is not part
    of it (inputs are already normalised on the device).
    """
    dev_type = str(device).split(':')[0]
    scaler = (
        torch.amp.GradScaler(dev_type) if mode.precision == 'fp16' else None)
    params = [p for p in model.parameters() if p.requires_grad]
    clip_kwargs = dict(clip or {})

    def step():
        with autocast_ctx(device, mode):
            losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip_kwargs:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(params, **clip_kwargs)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_kwargs:
                nn.utils.clip_grad_norm_(params, **clip_kwargs)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def set_compute_acc(model: nn.Module, on: bool) -> None:
    """Switch the head's training accuracy (``train_cfg.compute_acc``)."""
    cfg = dict(getattr(model, 'train_cfg', None) or {})
    cfg['compute_acc'] = on
    model.train_cfg = cfg


def random_batch(model: nn.Module, model_cfg: Dict, batch: int, input_size,
                 mode: Mode, seed: int, training: bool):
    """Normalised random inputs (in the mode's memory format) and samples."""
    from .models import (head_codec_cfg, make_data_samples, num_keypoints,
                         preprocess)
    inputs, samples = make_data_samples(
        head_codec_cfg(model_cfg),
        batch,
        input_size,
        num_keypoints(model),
        seed=seed,
        with_targets=training)
    x, samples = preprocess(model, inputs, samples, training=training)
    if mode.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, samples


def setup_train_step(model: nn.Module,
                     model_cfg: Dict,
                     optim_cfg: Dict,
                     mode: Mode,
                     batch: int,
                     input_size,
                     device: str,
                     seed: int = 0,
                     compute_acc: bool = False,
                     compile_mode: Optional[str] = None) -> Callable:
    """Random training data for ``model``, the mode applied, the config's
    optimizer built: the closure of :func:`make_train_step`."""
    if not compute_acc:
        set_compute_acc(model, False)
    x, samples = random_batch(
        model, model_cfg, batch, input_size, mode, seed, training=True)
    apply_mode(model, mode, compile_mode, training=True)
    optimizer, clip = build_optimizer(model, optim_cfg)
    return make_train_step(model, optimizer, clip, x, samples, device, mode)


def setup_predict(model: nn.Module,
                  model_cfg: Dict,
                  mode: Mode,
                  batch: int,
                  input_size,
                  device: str,
                  flip: bool,
                  seed: int = 0,
                  compile_mode: Optional[str] = None) -> Callable:
    """``model`` in eval mode with random inputs and the mode applied: the
    closure of :func:`make_predict`."""
    model.eval()
    x, samples = random_batch(
        model, model_cfg, batch, input_size, mode, seed, training=False)
    apply_mode(model, mode, compile_mode)
    return make_predict(model, x, samples, device, mode, flip)


def time_calls(fns: Dict[str, Callable[[], object]],
               warmup: int,
               repeats: int,
               sync: Optional[Callable[[], None]] = None) -> Dict[str, List]:
    """The bench's one timing loop.

    Each callable is called ``warmup`` times untimed; then ``repeats``
    rounds call every callable once in turn (so that a change of machine
    load hits all of them alike), each call timed up to ``sync()``.

    Args:
        fns (dict): Name -> callable.
        warmup (int): Untimed calls of each, first.
        repeats (int): Timed calls of each.
        sync (Callable, optional): Waits for queued device work (e.g.
            ``torch.cuda.synchronize``).

    Returns:
        dict: Name -> the milliseconds of each timed call.
    """
    sync = sync or (lambda: None)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
        sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return times


def summary(ms: List[float]) -> Dict:
    """Median, 90th percentile and count of call times (milliseconds)."""
    ordered = sorted(ms)
    return dict(
        ms=statistics.median(ordered),
        p90_ms=ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        n=len(ordered))


def time_train(step: Callable[[], torch.Tensor],
               batch: int,
               warmup: int,
               iters: int,
               device: str,
               memory: Optional[MemoryMeter] = None) -> Dict:
    """Training steps through :func:`time_calls`.

    Returns:
        dict: ``img_s`` (from the median step), ``step_ms``, ``loss`` (last),
        ``finite``, ``peak_gib`` (if a meter is given; covers warm-up and
        timed steps).
    """
    last = {}

    def call():
        last['loss'] = step()

    if memory is not None:
        memory.start()
    try:
        ms = time_calls(
            dict(step=call), warmup, iters,
            lambda: synchronize(device))['step']
    finally:
        peak = memory.stop() if memory is not None else None
    value = float(last['loss']) if 'loss' in last else float('nan')
    step_ms = statistics.median(ms)
    return dict(
        img_s=batch / step_ms * 1e3,
        step_ms=step_ms,
        loss=value,
        finite=bool(torch.isfinite(torch.tensor(value))),
        peak_gib=peak)


# --------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------
def make_predict(model: nn.Module, inputs: torch.Tensor, samples: List,
                 device: str, mode: Mode, flip: bool) -> Callable[[], object]:
    """The plain prediction path: backbone -> neck -> ``head.predict``.

    With ``flip`` the flipped batch goes through the backbone and neck too
    and the head averages (MMPose's flip test). No heatmap output, no
    multi-scale test; decoding to keypoints is included (as in MMPose).
    """
    test_cfg = dict(getattr(model, 'test_cfg', None) or {})
    test_cfg.pop('multiscale_test', None)
    test_cfg['flip_test'] = flip
    test_cfg['output_heatmaps'] = False

    def predict():
        with torch.inference_mode(), autocast_ctx(device, mode):
            feats = model.extract_feat(inputs)
            if flip:
                feats = [feats, model.extract_feat(inputs.flip(-1))]
            return model.head.predict(feats, samples, test_cfg=test_cfg)

    return predict


# --------------------------------------------------------------------------
# peak matmul rate
# --------------------------------------------------------------------------
def measure_peak_tflops(device: str,
                        size: Optional[int] = None,
                        iters: int = 20) -> Dict:
    """Dense matmul rate: bf16 ``size^3`` on CUDA (default 8192), fp32 on
    CPU (default 1024). Counts 2 * size^3 FLOPs per matmul.

    Returns:
        dict: ``tflops``, ``dtype``, ``size``.
    """
    cuda = str(device).startswith('cuda')
    dtype = torch.bfloat16 if cuda else torch.float32
    n = size or (8192 if cuda else 1024)
    iters = iters if cuda else max(2, iters // 4)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b)
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        torch.matmul(a, b)
    synchronize(device)
    elapsed = time.perf_counter() - t0
    del a, b
    return dict(
        tflops=2 * n**3 * iters / elapsed / 1e12,
        dtype=str(dtype).replace('torch.', ''),
        size=n)
