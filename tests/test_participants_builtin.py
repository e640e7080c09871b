"""Lakatos (2000)'s per-participant ratings, built in: the raw file's layout read against a
loop written out here, the mean checked against the shipped matrices, Perc's mismatch kept
visible."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import MIRROR_DIR, needs_mirror
from timbre_jax.analyses import audit
from timbre_jax.data import datasets, registry
from timbre_jax.data.participants import Participants, from_lower_blocks, mean_of
from timbre_jax.errors import DataError


def test_lower_blocks_follow_the_raw_layout():
    """Two participants, 5 sounds (10 pairs, blocks padded to 16): each value lands at
    (1,0), (2,0), (2,1), (3,0), ... of its participant, mirrored."""
    l, p = 5, 10
    rng = np.random.default_rng(1)
    values = rng.uniform(size=(2, p))
    padded = np.concatenate([values, np.zeros((2, 6))], axis=1)
    found = from_lower_blocks(padded.reshape(-1, 8), l, "hand")
    for who in range(2):
        k = 0
        for i in range(1, l):
            for j in range(i):
                assert found.ratings[who, i, j] == found.ratings[who, j, i] == values[who, k]
                k += 1
        assert np.isnan(np.diag(found.ratings[who])).all()
    assert found.ids == ("P01", "P02") and found.counts.sum() == 2 * 2 * p
    with pytest.raises(DataError, match="hand: 24 values are not whole participants' blocks of 16"):
        from_lower_blocks(np.zeros(24), l, "hand")
    with pytest.raises(DataError, match="outside"):
        from_lower_blocks(np.concatenate([padded.ravel()[:-1], [0.0]]) * 2, l, "hand")


def test_mean_over_the_participants_who_rated():
    r = np.full((3, 3, 3), np.nan)
    r[:, 0, 1] = [0.2, np.nan, 0.6]  # two raters: 0.4
    r[:, 0, 2] = [np.nan] * 3         # nobody: unrated
    r[:, 1, 2] = [0.1, 0.2, 0.3]
    m = mean_of(r)
    assert m[0, 1] == pytest.approx(0.4) and np.isnan(m[0, 2]) and m[1, 2] == pytest.approx(0.2)
    parts = Participants(("a", "b", "c"), r, np.isfinite(r).astype(int), np.zeros((0, 2)),
                         np.array([0.05, np.nan, 0.15]))
    assert parts.floor == pytest.approx(0.1) and parts.pairs.shape == (3, 3)


@needs_mirror
@pytest.mark.parametrize("name, sounds", [("Lakatos2000_Comb", 20), ("Lakatos2000_Harm", 17)])
def test_lakatos_participants_give_the_shipped_means(name, sounds):
    found = datasets.participants(name, progress=False)
    assert found.m == 17 and found.sounds == sounds and np.isfinite(found.pairs).all()
    assert np.abs(found.mean() - datasets.load_ratings(name))[~np.eye(sounds, dtype=bool)].max() < 1e-12


@needs_mirror
def test_perc_raw_mean_is_not_its_ratings_and_is_not_used():
    ds = registry.get_dataset("Lakatos2000_Perc")
    raw = from_lower_blocks(np.loadtxt(MIRROR_DIR / ds.raw_path), ds.n_sounds, "Perc")
    iu = np.triu_indices(ds.n_sounds, 1)
    r = np.corrcoef(raw.mean()[iu], datasets.load_ratings("Lakatos2000_Perc")[iu])[0, 1]
    assert r == pytest.approx(0.40, abs=0.01)  # the figure docs/data.md gives
    assert datasets.participants("Lakatos2000_Perc") is None
    assert "Pearson 0.40" in datasets.no_participants_reason("Lakatos2000_Perc")
    assert datasets.participants("Grey1977") is None and "only its mean" in datasets.no_participants_reason("Grey1977")


@needs_mirror
def test_audit_says_which_raw_files_are_used():
    lines = audit.raw_ratings_lines(["Grey1977", "Lakatos2000_Comb", "Lakatos2000_Perc"])
    assert len(lines) == 2
    assert lines[0].startswith("Lakatos2000_Comb: raw file of 17 participants") and "used as its" in lines[0]
    assert "Pearson 0.4038" in lines[1] and "NOT used" in lines[1]
