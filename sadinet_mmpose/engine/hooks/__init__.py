from .checkpoint_guard import (CheckpointGuardHook, describe_mismatch,
                               is_complete_checkpoint,
                               newest_complete_checkpoint)
from .denormal import FlushDenormalHook
from .grad_balance import GradBalanceHook
from .rng_state import RNGStateHook

__all__ = [
    'CheckpointGuardHook', 'FlushDenormalHook', 'GradBalanceHook',
    'RNGStateHook', 'describe_mismatch', 'is_complete_checkpoint',
    'newest_complete_checkpoint'
]
