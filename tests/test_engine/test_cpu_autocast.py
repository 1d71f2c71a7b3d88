"""CPUAutocastOptimWrapper: convolutions in bfloat16 inside its context,
float32 parameters, gradients and steps."""
import torch
from torch import nn

from sadinet_mmpose.engine import CPUAutocastOptimWrapper


def test_forward_runs_in_bf16_and_the_step_in_float32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 36,
                                                                      1))
    wrapper = CPUAutocastOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x = torch.randn(2, 3, 8, 8)
    with wrapper.optim_context(model):
        loss = model(x).float().pow(2).mean()
    assert seen == [torch.bfloat16]
    before = model[0].weight.detach().clone()
    wrapper.update_params(loss)
    assert model[0].weight.dtype == torch.float32
    assert model[0].weight.grad is None or \
        model[0].weight.grad.dtype == torch.float32
    assert not torch.equal(before, model[0].weight)
    # switched off, the same context leaves float32
    off = CPUAutocastOptimWrapper(
        enabled=False, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with off.optim_context(model):
        model(x)
    assert seen[-1] == torch.float32
