"""Load MMPose/mmengine checkpoints under torch >= 2.6 without unsafe flags.

torch 2.6 made ``torch.load(weights_only=True)`` the default. Checkpoints
written by mmengine 0.10's runner hold, besides tensors, a few plain Python
and numpy objects (the message hub's :class:`HistoryBuffer` and numpy arrays
and scalars in its logs and in the dataset meta), so ``tools/test.py`` with a
checkpoint and ``tools/train.py --resume`` fail with "Weights only load
failed ... Unsupported global".

:func:`allow_mmengine_checkpoint_globals` registers exactly those types with
:func:`torch.serialization.add_safe_globals`. Safe loading stays on for
every file: a checkpoint that carries anything else (arbitrary classes,
callables) is still refused by torch.

Upstream: torch >= 2.6 (``torch.load(weights_only=True)`` by default) with
mmengine 0.10.7's checkpoints.
Drop when: mmengine loads its own checkpoints under torch's default (a later
mmengine registers its types or passes ``weights_only=False`` itself); the
canary test says so.
"""
import collections

import torch


def _history_buffer_getattr(obj, name):
    """A ``getattr`` that serves only what HistoryBuffer's pickle asks for.

    :class:`HistoryBuffer` keeps a dict of its statistics methods
    (``min``, ``max``, ``mean``, ``current`` ...), which pickle writes as
    ``getattr(HistoryBuffer, 'min')``. Allowing the real builtin ``getattr``
    would let a checkpoint reach any attribute of any allowed object, so this
    stand-in answers for the HistoryBuffer class and its public methods only.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise RuntimeError(
        f'refused getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'mmengine checkpoints only use it for HistoryBuffer methods')


def mmengine_checkpoint_globals() -> list:
    """The types (beyond tensors and builtins) mmengine 0.10 checkpoints hold.

    Returns:
        list: classes and functions to allow in weights-only unpickling.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = [
        HistoryBuffer, np.ndarray, np.dtype, collections.Counter,
        (_history_buffer_getattr, 'builtins.getattr'),
        (_history_buffer_getattr, '__builtin__.getattr')
    ]
    # Arrays pickle through numpy's reconstruct helper and scalars through
    # ``scalar``; numpy 2 calls the module ``numpy._core``, numpy 1 wrote
    # ``numpy.core`` into older checkpoints.
    try:
        from numpy._core import multiarray as _ma
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as _ma
    allowed += [_ma._reconstruct, _ma.scalar]
    # numpy >= 1.25 pickles dtypes by their DType classes.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in ('BoolDType', 'Int8DType', 'Int16DType', 'Int32DType',
                     'Int64DType', 'UInt8DType', 'UInt16DType', 'UInt32DType',
                     'UInt64DType', 'Float16DType', 'Float32DType',
                     'Float64DType', 'LongDType', 'ULongDType',
                     'LongLongDType', 'ULongLongDType', 'StrDType',
                     'BytesDType', 'ObjectDType'):
            cls = getattr(dtypes, name, None)
            if cls is not None:
                allowed.append(cls)
    return allowed


def allow_mmengine_checkpoint_globals() -> bool:
    """Allow-list the mmengine checkpoint types for ``torch.load``.

    Returns:
        bool: True if registered; False on a torch without
        ``add_safe_globals`` (torch < 2.4, where weights-only loading is not
        the default and nothing needs doing).
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return False
    add(mmengine_checkpoint_globals())
    return True
