"""PCK of heatmap arg-maxima, on the device (the training accuracy)."""
import torch
from torch import Tensor


def _argmax_locations(heatmaps: Tensor) -> Tensor:
    """(x, y) of each heatmap's first maximum; (-1, -1) where it is <= 0.

    Args:
        heatmaps (Tensor): Heatmaps of shape (N, K, H, W).

    Returns:
        Tensor: Locations of shape (N, K, 2), float32.
    """
    W = heatmaps.shape[-1]
    flat = heatmaps.flatten(2)
    index = flat.argmax(dim=-1, keepdim=True)
    value = flat.gather(-1, index).squeeze(-1)
    index = index.squeeze(-1)
    locs = torch.stack([index % W,
                        torch.div(index, W, rounding_mode='floor')],
                       dim=-1).float()
    return torch.where((value > 0)[..., None], locs, locs.new_tensor(-1.))


def heatmap_pck_accuracy(output: Tensor,
                         target: Tensor,
                         mask: Tensor,
                         thr: float = 0.05) -> Tensor:
    """Mean PCK of predicted vs target heatmap maxima, without a host copy.

    Computes what ``mmpose.evaluation.functional.pose_pck_accuracy`` returns
    as its average accuracy (same arg-max rule, same normalisation by the
    heatmap size (H, W), same per-keypoint averaging over the keypoints
    that have a valid sample, 0 when none has), but on the tensors' device
    and as a 0-dim tensor, so that a training step does not copy two
    (N, K, H, W) maps to the host and wait for them.

    Args:
        output (Tensor): Predicted heatmaps of shape (N, K, H, W).
        target (Tensor): Target heatmaps of shape (N, K, H, W).
        mask (Tensor): Which keypoints count, bool of shape (N, K).
        thr (float): Threshold on the normalised distance. Defaults to 0.05.

    Returns:
        Tensor: The average accuracy, a float32 0-dim tensor on the device.
    """
    if output.shape != target.shape or output.dim() != 4:
        raise ValueError('heatmap_pck_accuracy: output and target must be '
                         '(N, K, H, W) of one shape, got '
                         f'{tuple(output.shape)} and {tuple(target.shape)}')
    N, K, H, W = output.shape
    if tuple(mask.shape) != (N, K):
        raise ValueError(f'heatmap_pck_accuracy: mask must be ({N}, {K}), '
                         f'got {tuple(mask.shape)}')
    if K == 0 or N == 0:
        return output.new_zeros((), dtype=torch.float32)
    pred = _argmax_locations(output.float())
    gt = _argmax_locations(target.float())
    # MMPose divides x by H and y by W (equal for square heatmaps)
    norm = pred.new_tensor([H, W])
    dist = torch.linalg.vector_norm((pred - gt) / norm, dim=-1)
    valid = mask.bool()
    hits = ((dist < thr) & valid).sum(0).float()
    counts = valid.sum(0).float()
    has_valid = counts > 0
    per_keypoint = hits / counts.clamp(min=1)
    num = has_valid.sum().float()
    return torch.where(num > 0,
                       (per_keypoint * has_valid).sum() / num.clamp(min=1),
                       per_keypoint.new_zeros(()))
