"""RNGStateHook on its own (quick): a resumed run draws what the
uninterrupted one drew; a fine-tuning run keeps its fresh seeding."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from sadinet_mmpose.engine import RNGStateHook


def _draw():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_resume_restores_every_generator():
    hook = RNGStateHook()
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    _draw()
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    want = _draw()  # what the uninterrupted run draws next
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)  # a new process, seeded afresh by mmengine
    hook.after_load_checkpoint(SimpleNamespace(_resume=True), ckpt)
    assert _draw() == want
    # a checkpoint that went through a JSON-like round trip (lists)
    ckpt['rng_state']['python'] = list(ckpt['rng_state']['python'])
    ckpt['rng_state']['python'][1] = list(ckpt['rng_state']['python'][1])
    hook.after_load_checkpoint(SimpleNamespace(_resume=True), ckpt)
    assert _draw() == want


def test_load_from_keeps_the_new_seeding():
    hook = RNGStateHook()
    torch.manual_seed(1)
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    want = _draw()
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    fresh = _draw()
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    hook.after_load_checkpoint(SimpleNamespace(_resume=False), ckpt)
    got = _draw()
    assert got == fresh and got != want
