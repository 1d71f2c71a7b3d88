"""Replay inference forwards as captured CUDA graphs.

At batch 1 SADI-Net's forward is a chain of about a thousand small kernels
(every dilated residual block adds a branch, a norm and an SE block): the
GPU waits on Python launching them, not on arithmetic. A CUDA graph
records the kernels of one call once and replays them with one launch.

:class:`CUDAGraphCache` wraps a function of one tensor. For inputs on a CUDA
device, with autograd off and the wrapped module in eval mode, it captures
one graph per input signature (shape, strides, dtype, device, autocast and
inference-mode state) and replays it; every other call runs the function
as it is. The results are the function's own (the same kernels run), cloned
out of the graph's static memory so that they outlive the next replay.
"""
import collections
import warnings
from typing import Any, Callable, Optional

import torch
import torch.nn as nn
from torch import Tensor


def _map_tensors(fn: Callable[[Tensor], Tensor], obj: Any) -> Any:
    """Apply ``fn`` to every tensor of a nested tuple/list/dict."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple):
        return tuple(_map_tensors(fn, o) for o in obj)
    if isinstance(obj, list):
        return [_map_tensors(fn, o) for o in obj]
    if isinstance(obj, dict):
        return {k: _map_tensors(fn, v) for k, v in obj.items()}
    return obj


class CUDAGraphCache:
    """Captured CUDA graphs of ``fn(x)``, one per input signature.

    Args:
        fn (Callable[[Tensor], Any]): The function; it returns tensors in
            any nesting of tuples, lists and dicts.
        module (nn.Module, optional): The module whose weights ``fn`` reads.
            Graphs are used only while it is in eval mode, and a graph is
            captured again when its parameters or buffers were re-allocated
            (e.g. ``module.to(...)``); in-place updates (optimizer steps,
            ``load_state_dict``) are seen by the graphs as they are.
        max_graphs (int): Graphs kept (least recently used dropped, with
            their memory). Defaults to 4.
        warmup (int): Eager calls on a side stream before a capture (cuDNN
            picks its algorithms there). Defaults to 3.

    Note:
        A graph keeps its own memory for the forward's intermediate tensors
        while it is cached: about the forward's activation memory at that
        batch size.
    """

    def __init__(self,
                 fn: Callable[[Tensor], Any],
                 module: Optional[nn.Module] = None,
                 max_graphs: int = 4,
                 warmup: int = 3):
        if max_graphs < 1:
            raise ValueError(
                f'CUDAGraphCache: max_graphs must be >= 1, got {max_graphs}')
        if warmup < 1:
            raise ValueError(
                f'CUDAGraphCache: warmup must be >= 1, got {warmup}')
        self.fn = fn
        self.module = module
        self.max_graphs = max_graphs
        self.warmup = warmup
        self._graphs = collections.OrderedDict()
        self._weights = None
        self.disabled_reason: Optional[str] = None
        self.num_captures = 0
        self.num_replays = 0

    def applicable(self, x: Tensor) -> bool:
        """Whether ``x`` goes through a graph (else ``fn`` runs eagerly)."""
        return (self.disabled_reason is None and isinstance(x, Tensor)
                and x.is_cuda and not torch.is_grad_enabled()
                and (self.module is None or not self.module.training)
                and not torch.cuda.is_current_stream_capturing()
                and not torch.compiler.is_compiling())

    def _weights_key(self) -> tuple:
        """Storage addresses of the module's parameters and buffers.

        The tensors are listed once (walking the module tree costs
        milliseconds at batch 1); their addresses are read on every call, so
        moving or casting the module (which swaps the storage of the same
        Parameter objects) leads to a new capture. Parameters *replaced* by
        new objects after the first call need :meth:`clear`.
        """
        if self.module is None:
            return ()
        if self._weights is None:
            self._weights = list(self.module.parameters()) + list(
                self.module.buffers())
        return tuple([t.data_ptr() for t in self._weights])

    def _signature(self, x: Tensor) -> tuple:
        dev = x.device.type
        autocast = torch.is_autocast_enabled(dev)
        return (tuple(x.shape), x.stride(), x.dtype, str(x.device), autocast,
                torch.get_autocast_dtype(dev) if autocast else None,
                torch.is_inference_mode_enabled())

    def _capture(self, x: Tensor):
        dev = x.device.type
        autocast = torch.is_autocast_enabled(dev)
        amp_dtype = torch.get_autocast_dtype(dev) if autocast else None

        def amp():
            # autocast's cache of cast weights must stay off: the graph
            # would read cached copies that are freed when the caller's
            # autocast region ends
            return torch.autocast(
                dev, dtype=amp_dtype, enabled=autocast,
                cache_enabled=False)

        static_in = torch.empty_strided(
            x.shape, x.stride(), dtype=x.dtype, device=x.device)
        static_in.copy_(x)
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side), amp():
            for _ in range(self.warmup):
                self.fn(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), amp():
            static_out = self.fn(static_in)
        self.num_captures += 1
        return static_in, graph, static_out

    def __call__(self, x: Tensor) -> Any:
        """``fn(x)``, replayed from a graph where applicable."""
        if not self.applicable(x):
            return self.fn(x)
        key = (self._signature(x), self._weights_key())
        entry = self._graphs.get(key)
        if entry is None:
            try:
                entry = self._capture(x)
            except Exception as exc:  # fall back to eager, once and loudly
                self.disabled_reason = f'{type(exc).__name__}: {exc}'
                self._graphs.clear()
                warnings.warn(
                    'CUDA graph capture failed, running eagerly from now on '
                    f'({self.disabled_reason})')
                return self.fn(x)
            self._graphs[key] = entry
            while len(self._graphs) > self.max_graphs:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        static_in, graph, static_out = entry
        static_in.copy_(x)
        graph.replay()
        self.num_replays += 1
        return _map_tensors(lambda t: t.clone(), static_out)

    def __deepcopy__(self, memo):
        """A copy (e.g. for an EMA model) starts with no graphs."""
        import copy
        return type(self)(
            copy.deepcopy(self.fn, memo),
            module=copy.deepcopy(self.module, memo),
            max_graphs=self.max_graphs,
            warmup=self.warmup)

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_graphs'] = collections.OrderedDict()
        state['_weights'] = None
        return state

    def clear(self) -> None:
        """Drop every captured graph and its memory."""
        self._graphs.clear()
        self._weights = None

    def __len__(self) -> int:
        return len(self._graphs)
