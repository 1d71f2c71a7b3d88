"""Opt-in logging of the gradient balance between the two loss terms."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS


@HOOKS.register_module()
class GradBalanceHook(Hook):
    """Every ``interval`` training iterations (the first included), ask the
    model to log ``grad_h1``, ``grad_h2`` and ``grad_ratio``: the L2 norm of
    the gradient each weighted loss term sends into the backbone's outputs,
    and their ratio (H2 over H1).

    The model is :class:`MSTopdownPoseEstimator` with a :class:`DLMHead`;
    other models ignore the request. On those iterations the estimator runs
    two extra ``autograd.grad`` calls down to the backbone's outputs;
    parameter gradients are untouched. The names carry no "loss", so
    mmengine logs them without adding them to the loss.

    Args:
        interval (int): Iterations between two measurements. Defaults to 10.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 10) -> None:
        if interval < 1:
            raise ValueError(
                f'GradBalanceHook: interval must be >= 1, got {interval}')
        self.interval = interval

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.probe_grad_balance = runner.iter % self.interval == 0
