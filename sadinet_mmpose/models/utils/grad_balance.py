"""The balance of the gradients two loss terms send into the backbone."""
from typing import Sequence

import torch
from torch import Tensor


def gradient_balance(part_h1: Tensor, part_h2: Tensor,
                     probe: Sequence[Tensor]) -> dict:
    """Norms of the gradients the two loss terms send into ``probe``.

    Two extra backward passes from the weighted H1 and H2 parts of the loss
    down to ``probe`` only (the graph is kept for the training step's own
    backward; no parameter gradient is touched).

    Args:
        part_h1 (Tensor): The weighted H1 part of the loss, a scalar.
        part_h2 (Tensor): The weighted H2 part, a scalar.
        probe (Sequence[Tensor]): Tensors upstream of the head (the
            backbone's outputs) that require gradients.

    Returns:
        dict: ``grad_h1``, ``grad_h2`` (L2 norms over all of ``probe``) and
        ``grad_ratio`` (``grad_h2 / grad_h1``), detached scalars.
    """
    probe = [t for t in probe if t.requires_grad]
    norms = []
    for part in (part_h1, part_h2):
        if not probe or not part.requires_grad:
            norms.append(part.new_zeros(()))
            continue
        grads = torch.autograd.grad(
            part, probe, retain_graph=True, allow_unused=True)
        sq = [g.detach().float().pow(2).sum() for g in grads if g is not None]
        norms.append(
            torch.stack(sq).sum().sqrt() if sq else part.new_zeros(()))
    g1, g2 = norms
    return dict(grad_h1=g1, grad_h2=g2, grad_ratio=g2 / g1.clamp_min(1e-20))
