"""Noise ceilings: how well any model could do, given how much the listeners disagree.

Input: per-participant condensed ratings ``X`` (m, p), NaN = unrated (as in
:mod:`timbre_jax.stats.reliability`).  Two ceilings, for two questions:

- **the EV ceiling** (:attr:`NoiseCeiling.ev`): the ceiling on the explained variance of a
  model of the study's *mean* ratings, the number every fit of the package reports.  The
  mean is truth plus rater noise, M = T + E; its reliability ρ = var(T) / var(M) is the
  split-half reliability of the full panel (Spearman–Brown corrected,
  :func:`~timbre_jax.stats.reliability.split_half`, median over the splits).  A model of the
  sounds, whatever it is, shares nothing with E, so its correlation with M is at most
  corr(T, M) = √ρ and its EV = P² at most ρ.  :func:`ev_fraction` is a model's EV over it.
- **rsatoolbox's leave-one-participant-out bounds** (:attr:`NoiseCeiling.lower`,
  :attr:`NoiseCeiling.upper`; Nili et al. 2014, rsatoolbox ``inference/noise_ceiling.py``,
  ``boot_noise_ceiling``): the mean over participants of Pearson's r of each participant
  with the mean of the *others* (lower: the others' mean is a model that never saw the
  participant) and with the mean of *all* (upper: it did).  They bound the best mean
  correlation with *individual* participants, so they compare with a model's
  :func:`participant_agreement`, not with its EV.  The means here are the plain means of
  the ratings, as the study's mean ratings are (rsatoolbox's ``corr`` pools z-scored
  matrices instead: on Lakatos2000_Comb 0.7235 and 0.7592 against 0.7225 and 0.7586 here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.stats.reliability import SPLITS, leave_one_out, rowwise_pearson, split_half, with_mean


def finite_mean(values) -> float:
    """The mean of the finite entries of ``values`` (NaN: none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def loo_bounds(X: np.ndarray, study: str = "the study") -> tuple[float, float]:
    """rsatoolbox's (lower, upper) leave-one-participant-out bounds of ``X`` (m, p): the means
    over participants of :func:`~timbre_jax.stats.reliability.leave_one_out` and
    :func:`~timbre_jax.stats.reliability.with_mean` (participants with a NaN r left out)."""
    return finite_mean(leave_one_out(X, study)), finite_mean(with_mean(X, study))


@dataclass(frozen=True)
class NoiseCeiling:
    """The ceilings of one study (see the module docstring): ``ev`` the ceiling on the EV of
    a model of the mean ratings (split-half reliability, median) with its 95% interval over
    the splits (``ev_low``, ``ev_high``); ``lower`` and ``upper`` rsatoolbox's bounds on the
    mean correlation with individual participants."""

    ev: float
    ev_low: float
    ev_high: float
    lower: float
    upper: float


def noise_ceiling(X: np.ndarray, splits: int = SPLITS, seed: int = 0, study: str = "the study") -> NoiseCeiling:
    """:class:`NoiseCeiling` of ``X`` (m, p), the split half over ``splits`` random halves
    seeded by ``seed``; two participants at least (else :class:`~timbre_jax.errors.DataError`)."""
    half = split_half(X, splits, seed, study)
    lower, upper = loo_bounds(X, study)
    return NoiseCeiling(half.median, half.low, half.high, lower, upper)


def participant_agreement(distances: np.ndarray, X: np.ndarray) -> float:
    """A model's number comparable with :func:`loo_bounds`: the mean over participants of
    Pearson's r between the model's ``distances`` (p,) and each participant's ratings ``X``
    (m, p), over the pairs the participant rated."""
    X = np.asarray(X, dtype=np.float64)
    d = np.broadcast_to(np.asarray(distances, dtype=np.float64), X.shape)
    return finite_mean(rowwise_pearson(X, d, np.isfinite(X) & np.isfinite(d)))


def ev_fraction(ev, ceiling):
    """A model's EV as a fraction of the EV ceiling (NaN where the ceiling is not positive)."""
    ev, ceiling = np.asarray(ev, dtype=np.float64), np.asarray(ceiling, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ceiling > 0, ev / np.where(ceiling > 0, ceiling, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


COLUMNS = ("participants", "ceiling_ev", "ceiling_ev_low", "ceiling_ev_high", "ev_of_ceiling",
           "heldout_ev_of_ceiling", "ceiling_lower", "ceiling_upper", "participant_r")
"""The ceiling columns of a study's row (evaluate.csv, leaderboard_studies.csv): empty where
the study has no per-participant ratings (:func:`columns`)."""


def columns(X: np.ndarray | None, ceiling: NoiseCeiling | None, ev: float, heldout_ev: float,
            distances: np.ndarray | None) -> dict:
    """The :data:`COLUMNS` of one model on one study: the number of participants, the EV
    ceiling and its interval, ``ev`` and ``heldout_ev`` as fractions of it, rsatoolbox's
    bounds and the model's mean r with the participants (its ``distances`` (p,) against
    ``X`` (m, p)); None (an empty cell) everywhere without a ceiling."""
    if ceiling is None or X is None:
        return dict.fromkeys(COLUMNS)
    return {"participants": int(len(X)), "ceiling_ev": ceiling.ev, "ceiling_ev_low": ceiling.ev_low,
            "ceiling_ev_high": ceiling.ev_high, "ev_of_ceiling": ev_fraction(ev, ceiling.ev),
            "heldout_ev_of_ceiling": ev_fraction(heldout_ev, ceiling.ev), "ceiling_lower": ceiling.lower,
            "ceiling_upper": ceiling.upper,
            "participant_r": float("nan") if distances is None else participant_agreement(distances, X)}
