"""Let MMPose's inferencer carry the keypoint uncertainty to its output.

``MMPoseInferencer`` (and ``demo/inferencer_demo.py --pred-out-dir``) turn
each prediction into JSON-ready dicts with MMPose's ``split_instances``,
which keeps fixed keys: ``keypoints``, ``keypoint_scores``, ``bbox`` and
``bbox_score``. The sigmas that ``DLMHead`` adds to ``pred_instances`` are
dropped there.

:func:`install_inferencer_sigmas` wraps ``split_instances`` where the
inferencer calls it (``mmpose.apis.inferencers.base_mmpose_inferencer``) and
where later importers find it (``mmpose.structures``): MMPose's dicts come
out unchanged, plus, for an instance that has them, ``keypoint_sigmas``
(K x 2, image pixels), ``keypoint_sigma_dof`` (K,; None for a Gaussian)
and ``sigma_calibrated`` (bool), as ``tools/demo.py --out-json`` writes
them. Predictions of other heads pass unchanged.

Upstream: MMPose 1.3.2's ``mmpose.structures.utils.split_instances``.
Drop when: ``split_instances`` passes per-instance fields beyond its fixed
keys; the canary test in ``tests/test_compat/test_patches_needed.py`` says
so.
"""
from .on_import import patch_on_import

#: ``pred_instances`` fields added to each instance's dict when present.
SIGMA_FIELDS = ('keypoint_sigmas', 'keypoint_sigma_dof', 'sigma_calibrated')

#: Modules whose ``split_instances`` binding is wrapped.
PATCHED_MODULES = ('mmpose.structures',
                   'mmpose.apis.inferencers.base_mmpose_inferencer')


def _as_list(value):
    """A numpy array/tensor element as nested Python lists or a scalar."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    if hasattr(value, 'tolist'):
        value = value.tolist()
    return value


def with_sigma_fields(split_instances):
    """Wrap MMPose's ``split_instances`` so that it keeps
    :data:`SIGMA_FIELDS`.

    Args:
        split_instances (Callable): MMPose's function.

    Returns:
        Callable: The wrapper (marked ``sadinet_compat``); ``split_instances``
        itself if it is already wrapped.
    """
    if getattr(split_instances, 'sadinet_compat', False):
        return split_instances

    def split_with_sigmas(instances):
        results = split_instances(instances)
        if instances is None:
            return results
        for field in SIGMA_FIELDS:
            if field not in instances:
                continue
            values = instances.get(field)
            for i, result in enumerate(results):
                value = _as_list(values[i])
                if field == 'sigma_calibrated':
                    value = bool(value)
                result[field] = value
        if 'keypoint_sigmas' in instances and \
                'keypoint_sigma_dof' not in instances:
            for result in results:  # a Gaussian sigma
                result['keypoint_sigma_dof'] = None
        return results

    split_with_sigmas.__doc__ = split_instances.__doc__
    split_with_sigmas.__name__ = split_instances.__name__
    split_with_sigmas.__wrapped__ = split_instances
    split_with_sigmas.sadinet_compat = True
    return split_with_sigmas


def _patch(module) -> None:
    if hasattr(module, 'split_instances'):
        module.split_instances = with_sigma_fields(module.split_instances)


def install_inferencer_sigmas() -> None:
    """Wrap ``split_instances`` in :data:`PATCHED_MODULES`, now for those
    imported, else right after their import (nothing is imported here)."""
    for name in PATCHED_MODULES:
        patch_on_import(name, _patch)
