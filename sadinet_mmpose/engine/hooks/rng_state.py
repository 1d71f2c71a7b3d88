"""Save and restore random-number-generator states with checkpoints."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Put the RNG states of this process into every checkpoint it saves.

    mmengine re-seeds the generators when a run starts, so a resumed run
    draws different augmentations from an uninterrupted one. With this hook
    the Python, numpy and torch (CPU and CUDA) generator states at the moment
    of saving are stored under ``checkpoint['rng_state']`` and put back when
    the checkpoint is resumed: with ``num_workers=0`` (augmentations drawn in
    the main process) and deterministic kernels, a resumed run then matches
    an uninterrupted one bit for bit. Data-loader workers draw from their own
    generators, seeded by mmengine per worker and epoch; those are not
    affected.

    Only rank 0 writes checkpoints, so only rank 0's states are stored and
    only rank 0 restores them; other ranks keep mmengine's fresh seeding
    (a resumed multi-GPU run is reproducible, not identical).
    """

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state(),
            rank=get_rank())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if state is None:
            return
        if not getattr(runner, '_resume', False):
            return  # load_from (fine-tuning) keeps the new run's seeding
        if state.get('rank', 0) != get_rank():
            return
        random.setstate(_as_python_state(state['python']))
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            try:
                torch.cuda.set_rng_state_all(state['cuda'])
            except RuntimeError as err:  # a different number of GPUs
                print_log(
                    f'RNGStateHook: CUDA RNG state not restored: {err}',
                    logger='current',
                    level=30)
        print_log(
            'RNGStateHook: restored the random generators of the '
            'checkpoint',
            logger='current')


def _as_python_state(state):
    """Checkpoints may turn the inner tuple of ``random.getstate()`` into a
    list."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
