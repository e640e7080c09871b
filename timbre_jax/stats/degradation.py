"""Degraded ratings: rater noise, its levels, and the area under the curve it gives
(Pascal & Lagrange 2024, Sec. V).

Degraded ratings ``y = clip(s + delta * xi, 0, 1)`` with ``xi`` i.i.d. N(0, 1) per pair
(:func:`degrade`), for degradation levels ``delta = logspace(-1, 1, 9)`` (:func:`levels`)
and 5 realizations each; a dataset's group (:func:`make_group`) holds one problem per
(level, realization).

Noise is drawn on the host with NumPy's PCG64 generator seeded by
``(seed, CRC-32 of the dataset name, level index, realization)`` and one normal draw
per pair of the full condensed vector (:func:`noise`), so it does not depend on the
machine, on the batch layout, or on which other datasets are in the run.

Area: the trapezoid of the mean (over realizations) EV_human against ``log10 delta``
(:func:`area`, :func:`areas`); over the default levels it lies in [0, 2].  Relative area
of representation R on a dataset: ``10 log10(area_R / area_stmf)`` dB (:func:`relative_db`;
negative = less robust than STMF).  An area stands on every fit of its curve: the
table counts those that did not converge (:mod:`timbre_jax.stats.convergence`).  The
analysis that fits and reports them:
:mod:`timbre_jax.analyses.robustness`.
"""

from __future__ import annotations

import zlib

import numpy as np

from timbre_jax.core.pearson import pair_differences
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.solvers.batch import Group


def levels(count: int = 9, low: float = 0.1, high: float = 10.0) -> np.ndarray:
    """Degradation levels delta: ``count`` values log-spaced from ``low`` to ``high``."""
    return np.logspace(np.log10(low), np.log10(high), count)


def noise(seed: int, dataset: str, level: int, realization: int, p: int) -> np.ndarray:
    """The standard normal draws xi (p,) of one (dataset, level, realization)."""
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(dataset.encode()), level, realization]))
    return rng.standard_normal(p)


def degrade(ratings: np.ndarray, delta: float, xi: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """y = clip(s + delta * scale * xi, 0, 1); NaN (unrated) stays NaN."""
    return np.clip(ratings + delta * scale * xi, 0.0, 1.0)


def area(ev_mean: np.ndarray, deltas: np.ndarray) -> float:
    """Trapezoidal area under the EV curve against log10 delta."""
    return float(np.trapezoid(ev_mean, np.log10(deltas)))


def relative_db(area_r: float, area_ref: float) -> float:
    return float(10 * np.log10(area_r / area_ref))


def make_group(fs: FeatureSet, deltas, realizations: int, seed: int, std_scale: bool = False) -> Group:
    """One problem per (level, realization), level-major: the ratings of ``fs`` degraded
    by :func:`noise` at each of ``deltas`` (scaled by their std with ``std_scale``)."""
    s = fs.pairs
    rated = np.isfinite(s)
    scale = float(np.std(s[rated])) if std_scale else 1.0
    ys = [degrade(s, dl, noise(seed, fs.dataset, li, r, len(s)), scale)
          for li, dl in enumerate(deltas) for r in range(realizations)]
    ratings = np.where(rated, np.array(ys), 0.0)
    mask = np.broadcast_to(rated.astype(float), ratings.shape).copy()
    return Group(np.asarray(pair_differences(fs.features)), ratings, mask, fs.dataset)


def areas(rows) -> dict[tuple[str, str], tuple[float, float]]:
    """(representation, dataset) -> (area of the mean curve, std of per-realization areas);
    ``rows``: records with ``representation``, ``dataset``, ``delta``, ``realization`` and
    ``ev_human`` (:class:`timbre_jax.analyses.robustness.SweepRow`)."""
    out = {}
    keys = sorted({(r.representation, r.dataset) for r in rows})
    for key in keys:
        sel = [r for r in rows if (r.representation, r.dataset) == key]
        deltas = np.array(sorted({r.delta for r in sel}))
        R = max(r.realization for r in sel) + 1
        ev = np.full((len(deltas), R), np.nan)
        for r in sel:
            ev[np.searchsorted(deltas, r.delta), r.realization] = r.ev_human
        per_real = [area(ev[:, j], deltas) for j in range(R)]
        out[key] = (area(ev.mean(axis=1), deltas), float(np.std(per_real)))
    return out


def auc_table(rows) -> dict[tuple[str, str], dict]:
    """(representation, dataset) -> {auc, auc_std, rel_auc_db, unconverged, converged}; dB
    empty without stmf.  ``unconverged``: the fits behind the area that did not converge
    (``rows`` with a ``converged`` attribute; without one, a row counts as converged);
    ``converged``: every fit behind the row's numbers converged, stmf's too where the dB
    is computed from its area."""
    a = areas(rows)
    stopped: dict[tuple[str, str], int] = {}
    for r in rows:
        if not getattr(r, "converged", True):
            stopped[(r.representation, r.dataset)] = stopped.get((r.representation, r.dataset), 0) + 1
    out = {}
    for (rep, d), (auc, std) in a.items():
        ref = a.get(("stmf", d))
        db = relative_db(auc, ref[0]) if ref is not None and ref[0] > 0 and auc > 0 else float("nan")
        behind = stopped.get((rep, d), 0) + (stopped.get(("stmf", d), 0) if np.isfinite(db) else 0)
        out[(rep, d)] = {"auc": auc, "auc_std": std, "rel_auc_db": db, "unconverged": stopped.get((rep, d), 0),
                         "converged": behind == 0}
    return out
