"""Training-loop machinery: atomic checkpoint writes and guard hooks."""
from .atomic_backend import AtomicLocalBackend, atomic_write_bytes
from .checkpoint_fit import (CheckpointMismatchError, checkpoint_fit,
                             load_fitting_checkpoint, read_checkpoint)
from .hooks import *  # noqa: F401,F403
from .hooks import FlushDenormalHook  # noqa: F811
from .hooks import CheckpointGuardHook, GradBalanceHook, RNGStateHook

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes', 'CheckpointGuardHook',
    'RNGStateHook', 'FlushDenormalHook', 'GradBalanceHook',
    'CheckpointMismatchError', 'checkpoint_fit', 'load_fitting_checkpoint',
    'read_checkpoint'
]
