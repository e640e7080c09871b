"""The field's benchmark reproduced on two of its studies: `extract` of both MFCC kinds,
then `leaderboard`'s zero-shot rows, against everything computed again here: the MFCC
with librosa on audio padded pair by pair, the distances with scipy, the benchmark's
metrics by explicit loops (scipy's Spearman and Kendall tau-b per anchor sound) and its
pooling (a sum over every anchor of both studies)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats
from scipy.fft import dct
from scipy.spatial import distance

pytest.importorskip("librosa")
import librosa

from timbre_jax import cli
from timbre_jax.data import audio, datasets
from timbre_jax.data.sounds import stimuli

STUDIES = ("Patil2012_A3", "Vahidi2020")  # a paper study and one of the benchmark's own 4


def mfcc(x: np.ndarray) -> np.ndarray:
    """(40, frames): the benchmark's MFCC, with librosa's own functions."""
    S = librosa.feature.melspectrogram(y=x, sr=44100, n_fft=2048, hop_length=512, n_mels=128, htk=True,
                                       norm=None, fmin=0.0, fmax=22050.0, power=2.0, center=True,
                                       pad_mode="reflect", dtype=np.float64)
    dB = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0)
    return dct(dB, type=2, norm="ortho", axis=0)[:40]


def distances(waves, aligned: bool) -> dict[str, np.ndarray]:
    """(l, l) L2 and cosine distances: of the time-averaged MFCC, or of the flattened MFCC
    sequences of each pair after padding the shorter audio with zeros."""
    l = len(waves)
    out = {"euclidean": np.zeros((l, l)), "cosine": np.zeros((l, l))}
    own = [mfcc(w) for w in waves]
    for i in range(l):
        for j in range(i + 1, l):
            if aligned:
                T = max(len(waves[i]), len(waves[j]))
                a, b = (mfcc(np.pad(w, (0, T - len(w)))).ravel() for w in (waves[i], waves[j]))
            else:
                a, b = own[i].mean(axis=1), own[j].mean(axis=1)
            out["euclidean"][i, j] = out["euclidean"][j, i] = distance.euclidean(a, b)
            out["cosine"][i, j] = out["cosine"][j, i] = distance.cosine(a, b)
    return out


def benchmark_terms(D: np.ndarray, R: np.ndarray, margin: float = 0.1) -> dict[str, list[float]]:
    """Per anchor sound the four anchor metrics, and per pair |d' - r'|, by loops."""
    l = len(R)
    upper = [(i, j) for i in range(l) for j in range(i + 1, l)]
    Dn = D / max(D[i, j] for i, j in upper)
    Rn = R / max(R[i, j] for i, j in upper)
    out = {"anchor_spearman": [], "anchor_kendall": [], "triplet_agreement": [], "ndcg": [],
           "mae": [abs(Dn[i, j] - Rn[i, j]) for i, j in upper]}
    for i in range(l):
        js = [j for j in range(l) if j != i]
        d, r = np.array([Dn[i, j] for j in js]), np.array([Rn[i, j] for j in js])
        out["anchor_spearman"].append(stats.spearmanr(d, r)[0])
        out["anchor_kendall"].append(stats.kendalltau(d, r, variant="b")[0])
        agree = total = 0
        for a in range(len(js)):
            for b in range(a + 1, len(js)):
                if abs(r[a] - r[b]) > margin:
                    total += 1
                    agree += (d[a] - d[b]) * (r[a] - r[b]) > 0
        out["triplet_agreement"].append(agree / total if total else 0.0)
        relevance = 1.0 - r
        order = np.argsort(-(1.0 - d), kind="stable")
        dcg = sum(relevance[k] / math.log2(rank + 2) for rank, k in enumerate(order))
        idcg = sum(v / math.log2(rank + 2) for rank, v in enumerate(sorted(relevance, reverse=True)))
        out["ndcg"].append(dcg / idcg)
    return out


@pytest.fixture(scope="module")
def leaderboard_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "lb"
    names = ",".join(STUDIES)
    for rep in ("mfcc", "mfcc-aligned"):
        assert cli.main(["--quiet", "extract", "--representation", rep, "--datasets", names]) == 0
    assert cli.main(["--quiet", "leaderboard", "--representations", "mfcc,mfcc-aligned", "--datasets", names,
                     "--bootstrap", "0", "--out", str(out)]) == 0
    with open(out / "leaderboard.csv", newline="") as fh:
        return {(r["representation"], r["distance"]): r for r in csv.DictReader(fh)}


@pytest.mark.parametrize("aligned", [False, True], ids=["time-averaged", "frame-aligned"])
def test_pooled_zero_shot_metrics_equal_an_independent_computation(leaderboard_rows, aligned):
    terms = {"euclidean": {}, "cosine": {}}
    for study in STUDIES:
        waves = [audio.load(f)[0] for f in stimuli(study).files]
        R = datasets.load_ratings(study)
        assert np.isfinite(R[~np.eye(len(R), dtype=bool)]).all()  # every pair rated, as the benchmark assumes
        for kind, D in distances(waves, aligned).items():
            for name, values in benchmark_terms(D, R).items():
                terms[kind].setdefault(name, []).extend(values)
    rep = "mfcc-aligned" if aligned else "mfcc"
    for kind, by_name in terms.items():
        row = leaderboard_rows[(rep, kind)]
        assert int(row["studies"]) == 2 and int(row["sounds"]) == 11 + 15
        for name, values in by_name.items():
            assert len(values) == (11 * 10 // 2 + 15 * 14 // 2 if name == "mae" else 11 + 15)
            assert float(row[name]) == pytest.approx(np.mean(values), abs=2e-6), (rep, kind, name)
