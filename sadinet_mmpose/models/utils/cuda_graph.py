"""Replay forwards (and, for training, their backwards) as CUDA graphs.

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

With ``train=True`` it also takes training calls (module in train mode,
autograd on, an input that needs no gradient): the forward and the backward
to the module's trainable parameters are captured as two graphs, and one
autograd node replays them, so a training step launches the backbone's
thousands of kernels with two launches. Batch-norm statistics are updated
by the replays exactly as by eager calls (the warm-up calls' updates are
undone), and the parameter gradients are cloned out of the graph's memory
(accumulating over several backwards stays correct).
"""
import collections
import warnings
import weakref
from typing import Any, Callable, List, Optional

import torch
import torch.nn as nn
import torch.utils._pytree as pytree
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
        train (bool): Also graph training calls (forward + backward; needs
            ``module``). Defaults to False.

    Note:
        A graph keeps its own memory for the forward's intermediate tensors
        while it is cached: about the forward's activation memory at that
        batch size (a training graph: the activations saved for backward
        and the parameter gradients).
    """

    def __init__(self,
                 fn: Callable[[Tensor], Any],
                 module: Optional[nn.Module] = None,
                 max_graphs: int = 4,
                 warmup: int = 3,
                 train: bool = False):
        if max_graphs < 1:
            raise ValueError(
                f'CUDAGraphCache: max_graphs must be >= 1, got {max_graphs}')
        if warmup < 1:
            raise ValueError(
                f'CUDAGraphCache: warmup must be >= 1, got {warmup}')
        if train and module is None:
            raise ValueError('CUDAGraphCache: train=True needs the module '
                             '(its parameters get the gradients)')
        self.fn = fn
        self.module = module
        self.max_graphs = max_graphs
        self.warmup = warmup
        self.train = train
        self._graphs = collections.OrderedDict()
        self._weights = None
        self._params = None
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

    def applicable_train(self, x: Tensor) -> bool:
        """Whether the training call ``fn(x)`` goes through graphs."""
        return (self.train and self.disabled_reason is None
                and isinstance(x, Tensor) and x.is_cuda
                and not x.requires_grad and torch.is_grad_enabled()
                and self.module.training
                and not torch.is_inference_mode_enabled()
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

    @staticmethod
    def _amp(x: Tensor):
        """The caller's autocast state with the cast cache off: a graph
        would read cached copies that are freed when the caller's autocast
        region ends."""
        dev = x.device.type
        autocast = torch.is_autocast_enabled(dev)
        amp_dtype = torch.get_autocast_dtype(dev) if autocast else None
        return torch.autocast(dev, dtype=amp_dtype, enabled=autocast,
                              cache_enabled=False)

    @staticmethod
    def _static_input(x: Tensor):
        """A copy of ``x`` (same strides) for the graph to read, and a side
        stream, after the current one, for warm-up and capture."""
        static_in = torch.empty_strided(
            x.shape, x.stride(), dtype=x.dtype, device=x.device)
        static_in.copy_(x)
        stream = torch.cuda.Stream(device=x.device)
        stream.wait_stream(torch.cuda.current_stream(x.device))
        return static_in, stream

    def _capture(self, x: Tensor):
        def amp():
            return self._amp(x)

        static_in, side = self._static_input(x)
        with torch.cuda.stream(side), amp():
            for _ in range(self.warmup):
                self.fn(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), amp():
            static_out = self.fn(static_in)
        self.num_captures += 1
        return static_in, graph, static_out

    def _trainable(self) -> List[Tensor]:
        """The module's trainable parameters (listed once, like the
        weights of :meth:`_weights_key`)."""
        if self._params is None:
            self._params = [p for p in self.module.parameters()
                            if p.requires_grad]
        return self._params

    def _capture_train(self, x: Tensor) -> '_TrainGraphs':
        """Warm up, then capture forward and backward of ``fn`` at ``x``'s
        signature; the module's buffers are as they were before."""
        params = self._trainable()
        buffers = list(self.module.buffers())
        used = None
        saved = [b.detach().clone() for b in buffers]
        static_in, stream = self._static_input(x)
        with torch.cuda.stream(stream):
            try:
                with self._amp(x):
                    for _ in range(self.warmup):
                        outs = [o for o in pytree.tree_leaves(
                            self.fn(static_in))
                                if isinstance(o, Tensor) and o.requires_grad]
                        grads = torch.autograd.grad(
                            outs, params, [torch.ones_like(o) for o in outs],
                            allow_unused=True)
                        # only the parameters fn reads take part (the
                        # head's are not fn's when fn is backbone + neck)
                        used = [i for i, g in enumerate(grads)
                                if g is not None]
                        del outs, grads
            finally:
                with torch.no_grad():  # undo the warm-up's statistics
                    for b, v in zip(buffers, saved):
                        b.copy_(v)
        torch.cuda.current_stream(x.device).wait_stream(stream)
        torch.cuda.synchronize(x.device)
        fwd, bwd = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with torch.cuda.graph(fwd, stream=stream), self._amp(x):
            out = self.fn(static_in)
        leaves, spec = pytree.tree_flatten(out)
        if not all(isinstance(o, Tensor) for o in leaves):
            raise TypeError('train=True: fn must return only tensors')
        needs = [o.requires_grad for o in leaves]
        static_grad_out = [torch.empty_like(o) if n else None
                           for o, n in zip(leaves, needs)]
        with torch.cuda.graph(bwd, stream=stream, pool=fwd.pool()):
            grads = torch.autograd.grad(
                [o for o, n in zip(leaves, needs) if n],
                [params[i] for i in used],
                [g for g in static_grad_out if g is not None],
                allow_unused=True)
        self.num_captures += 1
        return _TrainGraphs(static_in, fwd, bwd, leaves, spec, needs,
                            static_grad_out, list(grads), used)

    def _call_train(self, x: Tensor) -> Any:
        key = ('train', self._signature(x), self._weights_key())
        entry = self._lookup(key, x, self._capture_train)
        if entry is None:
            return self.fn(x)
        if entry.pending is not None and entry.pending() is not None:
            # the last replay's backward has not run yet and its saved
            # activations live in the graph's memory: this call runs eagerly
            # (e.g. a second forward before the loss's backward)
            return self.fn(x)
        params = self._trainable()
        outs = _GraphedStep.apply(entry, x, *[params[i] for i in entry.used])
        self.num_replays += 1
        return pytree.tree_unflatten(list(outs), entry.spec)

    def _lookup(self, key, x: Tensor, capture):
        """The cached entry of ``key``, captured if new (None: the capture
        failed and the cache is disabled from now on)."""
        entry = self._graphs.get(key)
        if entry is not None:
            self._graphs.move_to_end(key)
            return entry
        try:
            entry = capture(x)
        except Exception as exc:  # fall back to eager, once and loudly
            self.disabled_reason = f'{type(exc).__name__}: {exc}'
            self._graphs.clear()
            warnings.warn(
                'CUDA graph capture failed, running eagerly from now on '
                f'({self.disabled_reason})')
            return None
        self._graphs[key] = entry
        while len(self._graphs) > self.max_graphs:
            self._graphs.popitem(last=False)
        return entry

    def __call__(self, x: Tensor) -> Any:
        """``fn(x)``, replayed from graphs where applicable."""
        if self.applicable_train(x):
            return self._call_train(x)
        if not self.applicable(x):
            return self.fn(x)
        key = (self._signature(x), self._weights_key())
        entry = self._lookup(key, x, self._capture)
        if entry is None:
            return self.fn(x)
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
            warmup=self.warmup,
            train=self.train)

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_graphs'] = collections.OrderedDict()
        state['_weights'] = None
        state['_params'] = None
        return state

    def clear(self) -> None:
        """Drop every captured graph and its memory."""
        self._graphs.clear()
        self._weights = None
        self._params = None

    def __len__(self) -> int:
        return len(self._graphs)


class _TrainGraphs:
    """The captured forward/backward graphs of one training signature and
    their static tensors."""

    def __init__(self, static_in, fwd, bwd, leaves, spec, needs,
                 static_grad_out, static_grads, used):
        self.static_in = static_in
        self.fwd = fwd
        self.bwd = bwd
        self.leaves = leaves
        self.spec = spec
        self.needs = needs
        self.static_grad_out = static_grad_out
        self.static_grads = static_grads
        self.used = used
        # weak reference to the autograd node of the last replay until its
        # backward has run
        self.pending = None


class _GraphedStep(torch.autograd.Function):
    """One autograd node: forward replays ``fwd``, backward ``bwd``.

    Outputs and parameter gradients are clones: they stay valid after the
    next replay, and gradients accumulate over several backwards as eager
    ones do.
    """

    @staticmethod
    def forward(ctx, entry: _TrainGraphs, x: Tensor, *params: Tensor):
        entry.static_in.copy_(x)
        entry.fwd.replay()
        ctx.entry = entry
        entry.pending = weakref.ref(ctx)
        outs = tuple(o.clone() for o in entry.leaves)
        ctx.mark_non_differentiable(
            *[o for o, n in zip(outs, entry.needs) if not n])
        return outs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads: Tensor):
        entry = ctx.entry
        entry.pending = None
        for static, grad in zip(entry.static_grad_out, grads):
            if static is None:
                continue
            if grad is None:
                static.zero_()
            else:
                static.copy_(grad)
        entry.bwd.replay()
        return (None, None) + tuple(
            None if g is None else g.clone() for g in entry.static_grads)
