"""The predictive distribution of a keypoint, fitted and evaluated.

An error ``e`` (2,) of a keypoint with per-axis scale ``sigma`` (2,) has
the squared Mahalanobis radius ``m2 = sum((e / sigma)**2)``. Under the
axis-aligned Gaussian ``P(R <= r) = 1 - exp(-r^2 / 2)``; under the 2-D
Student t with ``dof`` degrees of freedom ``P(R <= r) = 1 - (1 + r^2 /
dof)^(-dof / 2)``, which tends to the Gaussian as ``dof`` grows.
"""
import numpy as np


def coverage_radius(p, dof=None):
    """Mahalanobis radius holding probability ``p`` of the 2-D distribution.

    Gaussian (``dof`` None or inf): ``sqrt(-2 ln(1 - p))``. 2-D Student t
    with ``dof`` degrees of freedom, whose radius ``r`` has
    ``P(R <= r) = 1 - (1 + r^2 / dof)^(-dof / 2)``:
    ``sqrt(dof * ((1 - p)^(-2 / dof) - 1))``.

    Args:
        p (float | np.ndarray): Probability in (0, 1).
        dof (float | np.ndarray, optional): Degrees of freedom (> 0).

    Returns:
        np.ndarray | float: The radius, broadcast over ``p`` and ``dof``.
    """
    p = np.asarray(p, np.float64)
    if dof is None:
        return np.sqrt(-2. * np.log1p(-p))
    dof = np.asarray(dof, np.float64)
    finite = np.isfinite(dof)
    d = np.where(finite, dof, 1.)
    t = np.sqrt(d * ((1. - p)**(-2. / d) - 1.))
    return np.where(finite, t, np.sqrt(-2. * np.log1p(-p)))


def radius_cdf(r, dof=None):
    """``P(R <= r)`` of the Mahalanobis radius (inverse of
    :func:`coverage_radius`)."""
    r = np.asarray(r, np.float64)
    if dof is None:
        return -np.expm1(-0.5 * r * r)
    dof = np.asarray(dof, np.float64)
    finite = np.isfinite(dof)
    d = np.where(finite, dof, 1.)
    t = 1. - (1. + r * r / d)**(-d / 2.)
    return np.where(finite, t, -np.expm1(-0.5 * r * r))


def log_density(maha2, sig, dof=None):
    """Log density of an error under the predictive distribution.

    Args:
        maha2 (np.ndarray): Squared Mahalanobis radius of the error, (...).
        sig (np.ndarray): Per-axis std or t scale, (..., 2).
        dof (np.ndarray, optional): Degrees of freedom, (...); None or
            inf for the Gaussian.

    Returns:
        np.ndarray: (...) log densities.
    """
    base = -np.log(2. * np.pi) - np.log(sig).sum(-1)
    if dof is None:
        return base - 0.5 * maha2
    d = np.where(np.isfinite(dof), dof, 1e12)
    return base - (d + 2.) / 2. * np.log1p(maha2 / d)


#: Degrees of freedom the calibration fit chooses from (inf: Gaussian).
DOF_GRID = (1., 1.5, 2., 3., 4., 6., 10., 20., 50., float('inf'))


def _nll_of_scale(m2: np.ndarray, dof: float, log_c: float) -> float:
    """Mean negative log-likelihood, up to terms free of ``c`` and ``dof``,
    of squared radii ``m2`` when sigma is multiplied by ``exp(log_c)``."""
    c2 = np.exp(2. * log_c)
    if not np.isfinite(dof):
        return float(np.mean(np.log(c2) + 0.5 * m2 / c2))
    return float(
        np.mean(np.log(c2) + (dof + 2.) / 2. * np.log1p(m2 / (c2 * dof))))


def fit_scale(m2: np.ndarray, dof: float) -> float:
    """Maximum-likelihood factor ``c`` of sigma for squared radii ``m2``.

    Gaussian: ``c^2 = mean(m2) / 2``. Student t: a bounded 1-D search on
    ``log c``.
    """
    if not np.isfinite(dof):
        return float(np.sqrt(max(np.mean(m2), 1e-24) / 2.))
    from scipy.optimize import minimize_scalar
    res = minimize_scalar(
        lambda lc: _nll_of_scale(m2, dof, lc),
        bounds=(-12., 12.),
        method='bounded',
        options=dict(xatol=1e-6))
    return float(np.exp(res.x))


#: Coverage levels whose quantiles the per-joint calibration matches.
QUANTILE_LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Calibration methods of :func:`fit_sigma_calibration`.
CALIBRATION_METHODS = ('quantile', 'ml')


def _fit_quantiles(r: np.ndarray, dof_grid, steps: int = 81) -> tuple:
    """(dof, factor) whose regions hold the :data:`QUANTILE_LEVELS` of the
    radii ``r`` best: the pair with the smallest largest gap between a
    level and the share of ``r`` inside its region. For each ``dof`` the
    factor is searched (``steps`` values, log-spaced) between those that put
    one level's empirical quantile on its region's radius."""
    levels = np.asarray(QUANTILE_LEVELS)
    r = np.sort(r)
    q = np.maximum(np.quantile(r, levels), 1e-12)
    best = None
    for dof in dof_grid:
        radius = coverage_radius(levels, dof)
        log_c = np.log(q / radius)
        c = np.exp(np.linspace(log_c.min(), log_c.max(), steps))
        inside = np.searchsorted(r, c[:, None] * radius[None], 'right')
        gap = np.abs(inside / len(r) - levels[None]).max(1)
        i = int(gap.argmin())
        if best is None or gap[i] < best[0] - 1e-12:
            best = (float(gap[i]), float(dof), float(c[i]))
    return best[1], best[2]


def describe_tail(dofs) -> str:
    """The tail of a calibration in words.

    Args:
        dofs (float | Sequence[float]): Degrees of freedom, shared or per
            joint (inf: Gaussian).

    Returns:
        str: ``'Gaussian'``, ``'Student t, 4 dof'`` or, where the joints
        differ, ``'Student t, 1.5 to 4 dof'``.
    """
    dofs = np.atleast_1d(np.asarray(dofs, np.float64))
    if not np.isfinite(dofs).all():
        return 'Gaussian'
    if dofs.min() == dofs.max():
        return f'Student t, {dofs[0]:g} dof'
    return f'Student t, {dofs.min():g} to {dofs.max():g} dof'


def fit_sigma_calibration(errors: np.ndarray,
                          sigmas: np.ndarray,
                          visible: np.ndarray,
                          dof_grid=DOF_GRID,
                          min_joints: int = 20,
                          method: str = 'ml') -> dict:
    """Fit per-joint sigma factors and the tail on held-out errors.

    - ``'ml'``: one tail shared by all joints. For every ``dof`` of
      ``dof_grid`` each joint's factor ``c_k`` is the maximum-likelihood
      scale of its errors' Mahalanobis radii under the 2-D Student t
      (Gaussian for inf); the ``dof`` with the highest total likelihood
      wins.
    - ``'quantile'``: a tail (a finite ``dof``) and a factor per joint,
      chosen so that the joint's regions at 50 / 80 / 90 / 95 % hold those
      shares of its errors (:data:`QUANTILE_LEVELS`) with the smallest
      largest gap: the coverage of each joint, not the likelihood, is what
      it fits.

    A joint with fewer than ``min_joints`` visible samples gets the fit of
    all joints together.

    Note:
        - number of persons: N
        - number of keypoints: K

    Args:
        errors (np.ndarray): Prediction minus truth, (N, K, 2).
        sigmas (np.ndarray): Predicted per-axis sigma, (N, K, 2), same
            units (only the ratio matters).
        visible (np.ndarray): Scored joints, (N, K).
        dof_grid (Sequence[float]): Candidate degrees of freedom.
        min_joints (int): Fewest samples for a joint's own fit.
        method (str): ``'ml'`` or ``'quantile'``. Defaults to ``'ml'``.

    Returns:
        dict: ``factors`` (K,), ``dofs`` (K,) (inf: Gaussian), ``dof`` (the
        shared one, a float; None when the joints differ), ``nll`` (for
        ``'ml'`` per candidate ``dof``, for ``'quantile'`` of the fit; mean
        over joints, up to a constant), ``count`` (K,) samples per joint and
        ``method``.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'fit_sigma_calibration: method must be one of '
                         f'{CALIBRATION_METHODS}, got {method!r}')
    errors = np.asarray(errors, np.float64)
    sigmas = np.maximum(np.asarray(sigmas, np.float64), 1e-12)
    visible = np.asarray(visible, bool)
    m2 = ((errors / sigmas)**2).sum(-1)
    K = m2.shape[1]
    count = visible.sum(0)
    if visible.sum() == 0:
        raise ValueError('fit_sigma_calibration: no visible joint to fit on')

    def total_nll(dofs, factors):
        return float(
            sum(
                _nll_of_scale(m2[visible[:, k],
                                 k], dofs[k], np.log(factors[k])) * count[k]
                for k in range(K) if count[k]) / visible.sum())

    if method == 'quantile':
        # finite tails only (50 dof stands for the Gaussian), so that every
        # joint states a Student t
        grid = [d for d in dof_grid if np.isfinite(d)] or [50.]
        pooled = _fit_quantiles(np.sqrt(m2[visible]), grid)
        fits = [
            _fit_quantiles(np.sqrt(m2[visible[:, k], k]), grid)
            if count[k] >= min_joints else pooled for k in range(K)
        ]
        dofs = np.array([f[0] for f in fits])
        factors = np.array([f[1] for f in fits])
        shared = float(dofs[0]) if (dofs == dofs[0]).all() else None
        return dict(
            factors=factors,
            dofs=dofs,
            dof=shared,
            nll=total_nll(dofs, factors),
            count=count,
            method=method)
    best = None
    nll = {}
    for dof in dof_grid:
        pooled = fit_scale(m2[visible], dof)
        factors = np.array([
            fit_scale(m2[visible[:, k],
                         k], dof) if count[k] >= min_joints else pooled
            for k in range(K)
        ])
        total = total_nll(np.full(K, dof), factors)
        nll[float(dof)] = total
        if best is None or total < best[0]:
            best = (total, float(dof), factors)
    return dict(
        factors=best[2],
        dofs=np.full(K, best[1]),
        dof=best[1],
        nll=nll,
        count=count,
        method=method)


def probability_within(radius: np.ndarray,
                       sigmas: np.ndarray,
                       dof=None,
                       num_angles: int = 64) -> np.ndarray:
    """``P(|error| <= radius)`` under the predictive distribution.

    Exact for independent axes of scales ``sigma_x`` and ``sigma_y`` (a
    Gaussian, or a 2-D Student t of ``dof`` degrees of freedom with that
    scale matrix): in polar coordinates the radial integral has a closed
    form, ``P = 1 / (2 pi) * integral over theta of
    radius_cdf(radius * sqrt(a)) / (sigma_x sigma_y a) d theta`` with
    ``a = cos^2 theta / sigma_x^2 + sin^2 theta / sigma_y^2``; the angle is
    integrated by the midpoint rule over a quarter turn (the integrand is
    smooth and has the quadrants' symmetry).

    Args:
        radius (np.ndarray): Radii, broadcastable to (N, K).
        sigmas (np.ndarray): Per-axis scales, (N, K, 2), same units.
        dof (np.ndarray, optional): Degrees of freedom, broadcastable to
            (N, K); None or inf for the Gaussian.
        num_angles (int): Midpoints over the quarter turn. Defaults to 64.

    Returns:
        np.ndarray: (N, K) probabilities.
    """
    sig = np.maximum(np.asarray(sigmas, np.float64), 1e-12)
    sx, sy = sig[..., 0], sig[..., 1]
    r = np.broadcast_to(np.asarray(radius, np.float64), sx.shape)
    theta = (np.arange(num_angles) + 0.5) * (np.pi / 2) / num_angles
    a = (
        np.cos(theta)**2 / sx[..., None]**2 +
        np.sin(theta)**2 / sy[..., None]**2)
    d = None if dof is None else np.broadcast_to(
        np.asarray(dof, np.float64), sx.shape)[..., None]
    inner = radius_cdf(r[..., None] * np.sqrt(a), d) / (
        sx[..., None] * sy[..., None] * a)
    return np.clip(inner.mean(-1), 0., 1.)
