"""The multi-scale test's settings in ``test_cfg``, read and checked."""
from typing import Optional

import numpy as np

from ...codecs import merging

#: Options of ``test_cfg.multiscale_test``.
MS_OPTIONS = ('scales', 'heatmap_key', 'use_udp')


def is_dlm_head(head) -> bool:
    """Whether ``head`` predicts (mu, sigma) and H2 as DLMHead does."""
    return all(
        callable(getattr(head, name, None))
        for name in ('predict_distribution', 'decode_map', 'decode',
                     'render_h2'))


def parse_multiscale_cfg(test_cfg: Optional[dict], head) -> Optional[dict]:
    """Read and check ``test_cfg.multiscale_test`` and ``decode_source``.

    Args:
        test_cfg (dict, optional): The estimator's ``test_cfg``.
        head (nn.Module): The estimator's head.

    Returns:
        dict | None: None when the multi-scale test is off; else
        ``scales`` (1.0 first, then the others in config order),
        ``heatmap_key``, ``use_udp`` and ``decode_source``.
    """
    test_cfg = test_cfg or {}
    source = merging.check_decode_source(
        test_cfg.get('decode_source', 'h1'), 'model.test_cfg.decode_source')
    ms_cfg = test_cfg.get('multiscale_test', None)
    if not ms_cfg:
        return None
    if not isinstance(ms_cfg, dict):
        raise TypeError(
            'model.test_cfg.multiscale_test must be a dict such as '
            f'dict(scales=[0.75, 1.0, 1.25]), got {ms_cfg!r}')
    unknown = sorted(set(ms_cfg) - set(MS_OPTIONS))
    if unknown:
        raise ValueError(f'model.test_cfg.multiscale_test: unknown option(s) '
                         f'{unknown}; expected {MS_OPTIONS}')
    raw = ms_cfg.get('scales', [1.0])
    try:
        scales = [float(s) for s in raw]
    except (TypeError, ValueError):
        raise ValueError(
            'model.test_cfg.multiscale_test.scales must be a list of '
            f'positive numbers, got {raw!r}') from None
    if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
        raise ValueError(
            'model.test_cfg.multiscale_test.scales must be a non-empty '
            f'list of positive numbers, got {list(raw)!r}')
    if len(set(scales)) != len(scales):
        raise ValueError(
            'model.test_cfg.multiscale_test.scales lists a scale twice: '
            f'{list(raw)!r}')
    if source != 'h1' and not is_dlm_head(head):
        raise ValueError(
            f"model.test_cfg.decode_source={source!r} with "
            f'multiscale_test needs a head that predicts (mu, sigma) '
            f'and H2 (DLMHead); {type(head).__name__} does not: use '
            "decode_source='h1'")
    return dict(
        scales=[1.0] + [s for s in scales if s != 1.0],
        heatmap_key=ms_cfg.get('heatmap_key', 'heatmaps'),
        use_udp=bool(ms_cfg.get('use_udp', False)),
        decode_source=source)
