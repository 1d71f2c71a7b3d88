"""The test settings a sigma calibration was fitted under.

The calibration factors hold only for the predictions they were fitted on:
another flip setting, another set of test scales or another decode source
changes the errors (and, for the scales, the sigma) it describes. The
settings are stored beside the factors as a fixed-length vector (a buffer of
the head, so that they travel in the state dict):

``[recorded, flip_test, decode_source, n_scales, scale_1, ..., scale_8]``

with ``recorded`` 1 once a fit wrote them, the decode source as its index in
:data:`DECODE_SOURCES` and the scales sorted, zero-padded.
"""
from typing import Optional

import numpy as np

#: The decode sources, in the order of their code.
DECODE_SOURCES = ('h1', 'mu', 'blend')
#: The most test scales the vector holds.
MAX_SCALES = 8
#: Length of the vector.
CONDITIONS_LEN = 4 + MAX_SCALES


def settings_of(test_cfg: Optional[dict]) -> dict:
    """``flip_test``, ``decode_source`` and ``scales`` of a test config, with
    the defaults of MMPose's estimator and of this project's head."""
    test_cfg = dict(test_cfg or {})
    ms = test_cfg.get('multiscale_test') or {}
    scales = sorted(float(s) for s in (ms.get('scales') or [1.0]))
    return dict(
        flip_test=bool(test_cfg.get('flip_test', False)),
        decode_source=str(test_cfg.get('decode_source', 'h1')),
        scales=scales)


def encode_conditions(test_cfg: Optional[dict]) -> np.ndarray:
    """The vector of the settings ``test_cfg`` tests with, (CONDITIONS_LEN,).

    Raises:
        ValueError: An unknown decode source or more than MAX_SCALES scales.
    """
    s = settings_of(test_cfg)
    if s['decode_source'] not in DECODE_SOURCES:
        raise ValueError(f'decode_source {s["decode_source"]!r} is not one of '
                         f'{DECODE_SOURCES}')
    if len(s['scales']) > MAX_SCALES:
        raise ValueError(f'{len(s["scales"])} test scales; a calibration '
                         f'records at most {MAX_SCALES}')
    out = np.zeros(CONDITIONS_LEN, np.float32)
    out[:4] = (1., float(s['flip_test']),
               DECODE_SOURCES.index(s['decode_source']), len(s['scales']))
    out[4:4 + len(s['scales'])] = s['scales']
    return out


def describe_conditions(vector) -> str:
    """The settings of a vector in words; 'not recorded' for zeros."""
    v = np.asarray(vector, np.float64).reshape(-1)
    if len(v) != CONDITIONS_LEN or v[0] != 1:
        return 'not recorded'
    n = int(v[3])
    scales = ', '.join(f'{s:g}' for s in v[4:4 + n])
    return (f'flip_test={bool(v[1])}, decode_source='
            f'{DECODE_SOURCES[int(v[2])]!r}, scales=[{scales}]')


def conditions_hold(stored, test_cfg: Optional[dict]) -> Optional[bool]:
    """Whether ``test_cfg`` tests as the stored fit did; None when the fit
    recorded no settings."""
    v = np.asarray(stored, np.float32).reshape(-1)
    if len(v) != CONDITIONS_LEN or v[0] != 1:
        return None
    return bool(np.allclose(v, encode_conditions(test_cfg), atol=1e-6))
