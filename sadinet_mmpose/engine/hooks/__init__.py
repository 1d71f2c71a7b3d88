from .checkpoint_guard import (CheckpointGuardHook, is_complete_checkpoint,
                               newest_complete_checkpoint)
from .rng_state import RNGStateHook

__all__ = [
    'CheckpointGuardHook', 'RNGStateHook', 'is_complete_checkpoint',
    'newest_complete_checkpoint'
]
