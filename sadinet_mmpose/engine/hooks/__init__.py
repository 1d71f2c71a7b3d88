from .checkpoint_guard import (CheckpointGuardHook, describe_mismatch,
                               is_complete_checkpoint,
                               newest_complete_checkpoint)
from .denormal import FlushDenormalHook
from .rng_state import RNGStateHook

__all__ = [
    'CheckpointGuardHook', 'FlushDenormalHook', 'RNGStateHook',
    'describe_mismatch', 'is_complete_checkpoint', 'newest_complete_checkpoint'
]
