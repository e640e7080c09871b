"""Audit of the upstream features: are their rows paired with the right sounds?

Evidence, not proof.  Three checks per representation and dataset:

- stft only: each upstream row is matched to one of our extracted stft vectors (sorted
  audio files).  The two agree up to a scale, so rows are compared by Pearson's r
  between feature vectors and assigned one to one (Hungarian algorithm on ``-r``); a
  row matched away from its own position means features and ratings of different
  sounds were paired.
- zero-shot alignment (:mod:`timbre_jax.stats.unweighted`): unweighted distances against the
  ratings, as signed P^2 = sign(P) P^2; rows paired with the wrong sounds give about 0.
- the permutation null of the learned metric (:mod:`timbre_jax.analyses.null`, exact solver):
  the observed explained variance against the same fit on relabelled sounds; audit.csv
  ends with how many of its fits were not certified (``uncertified``) and whether all
  were (``certified``), and the summary says how many (:mod:`timbre_jax.stats.convergence`).

Each is reported beside the same numbers for the extracted representation of the same
name where it is in the store.  Only re-extraction with the real checkpoints proves a
pairing: see :data:`PROOF`.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from timbre_jax.analyses import base, null
from timbre_jax.data.datasets import FeatureSet, load_available, raw_agreement
from timbre_jax.data.registry import DATASETS
from timbre_jax.errors import DataError
from timbre_jax.plots import tables
from timbre_jax.solvers import Exact
from timbre_jax.stats import convergence
from timbre_jax.stats.unweighted import alignment, signed_p2

WRITES = ("OUT/audit.csv (one row per representation x source x dataset), OUT/stft_matching.csv (with "
          "extracted stft features in the store) and the saved fits under OUT/chunks/")

PROOF = ("This is evidence, not proof: the only proof is to re-extract the representation from the audio "
         "with the real checkpoint, e.g. `timbre-jax extract --representation clap --checkpoint PATH` (the "
         "checkpoints are listed in extract/README.md; the DSP ones, stft, cochlea, stmf and scattering, need "
         "none), then run the same audit: it compares the upstream rows with the extracted ones.")


def row_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's r between every row of ``a`` (l, n) and every row of ``b`` (m, n): (l, m).

    NaN for a constant row (no correlation is defined)."""
    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    if a.shape[1] != b.shape[1]:
        raise DataError(f"feature vectors of different lengths: {a.shape[1]} and {b.shape[1]}")
    ac, bc = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ac @ bc.T) / np.outer(np.linalg.norm(ac, axis=1), np.linalg.norm(bc, axis=1))


def match_rows(upstream: np.ndarray, ours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one-to-one pairing of rows that maximizes the summed Pearson's r.

    ``upstream`` and ``ours`` (l, n): the same l sounds, ours in the sorted order of the
    ratings.  Returns ``(perm, r)``, both (l,): upstream row ``i`` is our sound
    ``perm[i]``, with correlation ``r[i]``.  Pearson's r ignores each vector's scale and
    offset, the ways the two extractions differ."""
    if upstream.shape != ours.shape:
        raise DataError(f"upstream features have shape {upstream.shape}, ours {ours.shape}")
    r = np.nan_to_num(row_correlations(upstream, ours), nan=-1.0)  # a constant row matches nothing well
    rows, perm = linear_sum_assignment(-r)
    assert np.array_equal(rows, np.arange(len(rows)))  # square: every row is assigned, in order
    return perm, r[rows, perm]


def repaired(features: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Upstream rows put back in the ratings' order: row ``perm[i]`` of the result is
    upstream row ``i``.  (l, n), (l,) -> (l, n)."""
    out = np.empty_like(features)
    out[perm] = features
    return out


@dataclass(frozen=True)
class StftMatch:
    """The matching of one dataset's upstream stft rows to our extracted stft."""

    dataset: str
    sounds: tuple[str, ...]
    perm: np.ndarray        # (l,): upstream row i is sound perm[i]
    r: np.ndarray           # (l,): Pearson's r of each matched pair
    own_position: int       # rows matched to their own sound
    median_r: float
    repaired_euclidean_p2: float  # zero-shot signed P^2 of the upstream rows in matched order
    repaired_cosine_p2: float

    def rows(self) -> list[list]:
        """stft_matching.csv rows: dataset, upstream_row, matched_sound, own_sound, r."""
        return [[self.dataset, i, self.sounds[p], self.sounds[i], float(r)]
                for i, (p, r) in enumerate(zip(self.perm, self.r))]


def match_stft(upstream: FeatureSet, extracted: FeatureSet) -> StftMatch:
    """Match ``upstream`` stft rows to ``extracted`` (same dataset, sorted sounds) and
    score the re-paired upstream rows zero-shot against the ratings."""
    if upstream.sounds != extracted.sounds:
        raise DataError(f"{upstream.dataset}: the upstream and extracted sounds differ")
    perm, r = match_rows(upstream.features, extracted.features)
    z = alignment(repaired(upstream.features, perm), upstream.pairs)
    return StftMatch(upstream.dataset, upstream.sounds, perm, r, int(np.sum(perm == np.arange(len(perm)))),
                     float(np.median(r)), signed_p2(z["euclidean"][0]), signed_p2(z["cosine"][0]))


AUDIT_FIELDS = ["representation", "dataset", "source", "zeroshot_euclidean_p2", "zeroshot_cosine_p2",
                "observed_ev", "null_median", "p_value", "permutations", "stft_own_position", "stft_sounds",
                "stft_median_r", "stft_repaired_euclidean_p2", "stft_repaired_cosine_p2", "stft_permutation",
                "uncertified", "certified"]


def audit_sets(sets: list[FeatureSet], source: str, *, K: int = 100, seed: int = 0, progress: bool = False,
               matches: dict[str, StftMatch] | None = None, directory: Path | None = None) -> list[dict]:
    """One audit.csv record (:data:`AUDIT_FIELDS`) per feature set of one representation
    and source: zero-shot signed P^2 of both distances, and the exact permutation null
    with ``K`` relabellings (its fits saved under ``directory`` if given); ``matches``
    (dataset -> :class:`StftMatch`) fills the stft columns."""
    if not sets:
        return []
    _, summaries = null.relabelled_fits(sets, Exact(), K=K, seed=seed, directory=directory, progress=progress)
    out = []
    for fs, s in zip(sets, summaries):
        z = alignment(fs.features, fs.pairs)
        rec = dict.fromkeys(AUDIT_FIELDS)
        rec.update(representation=fs.representation, dataset=fs.dataset, source=source,
                   zeroshot_euclidean_p2=signed_p2(z["euclidean"][0]),
                   zeroshot_cosine_p2=signed_p2(z["cosine"][0]),
                   observed_ev=s.observed_ev, null_median=s.null_median, p_value=s.p_value, permutations=K,
                   uncertified=s.unconverged, certified=s.converged)
        m = (matches or {}).get(fs.dataset)
        if m is not None:
            rec.update(stft_own_position=m.own_position, stft_sounds=len(m.perm), stft_median_r=m.median_r,
                       stft_repaired_euclidean_p2=m.repaired_euclidean_p2,
                       stft_repaired_cosine_p2=m.repaired_cosine_p2,
                       stft_permutation=" ".join(map(str, m.perm)))
        out.append(rec)
    return out


DSP = ("stft", "cochlea", "stmf", "scattering")  # extracted without a checkpoint


def match_extracted_stft(names, say=print) -> dict[str, StftMatch]:
    """dataset -> :class:`StftMatch` of the upstream stft rows against our extracted stft,
    for the datasets of ``names`` that have both; ``say`` tells what is skipped and why."""
    ours, _ = load_available("stft", names, "extracted")
    if not ours:
        say("stft matching skipped: no extracted stft in the store; "
            "run `timbre-jax extract --representation stft` first")
        return {}
    absent = [d for d in names if d not in {s.dataset for s in ours}]
    if absent:
        say(f"stft matching skipped for {', '.join(absent)}: not extracted; "
            "run `timbre-jax extract --representation stft`")
    upstream = {s.dataset: s for s in load_available("stft", [s.dataset for s in ours])[0]}
    return {s.dataset: match_stft(upstream[s.dataset], s) for s in ours if s.dataset in upstream}


def raw_ratings_lines(names) -> list[str]:
    """One line per study of ``names`` with a per-participant file: its mean against the
    study's mean ratings, and whether it is used (docs/data.md)."""
    lines = []
    for d in names:
        if d not in DATASETS or not DATASETS[d].raw_path:
            continue
        found, r, largest = raw_agreement(d)
        use = ("used as its per-participant ratings" if DATASETS[d].raw_matches else
               "NOT used: it does not give the published ratings (which participants or which version, unknown)")
        lines.append(f"{d}: raw file of {found.m} participants, its mean against the shipped ratings: Pearson "
                     f"{r:.4f}, largest difference {largest:.2g}; {use}")
    return lines


@dataclass(frozen=True)
class AuditResult:
    """The audit.csv records, the stft matches by dataset, the relabellings per dataset,
    the notes said on the way (what was skipped, time per representation) and the time."""

    records: list[dict]
    matches: dict[str, StftMatch]
    permutations: int
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run(representations, datasets, *, permutations: int = 100, seed: int = 0, directory: Path | None = None,
        progress: bool = False) -> AuditResult:
    """The whole audit: records (:func:`audit_sets`) of the upstream and the extracted features
    of every representation in ``representations`` over ``datasets``, and the stft
    matches (:func:`match_extracted_stft`); the nulls' fits saved under
    ``directory/<representation>/<source>`` if given."""
    t0 = time.perf_counter()
    notes: list[str] = []
    say = notes.append
    matches = match_extracted_stft(datasets, say) if "stft" in representations else {}
    notes += raw_ratings_lines(datasets)
    records = []
    for r in representations:
        t = time.perf_counter()
        for source in ("upstream", "extracted"):
            sets, skipped = load_available(r, datasets, source)
            if source == "upstream":
                notes += base.skipped_lines(skipped)
            elif not sets:
                deep = "" if r in DSP else " --checkpoint PATH (see extract/README.md)"
                say(f"{r}: no extracted features to compare with; `timbre-jax extract --representation {r}{deep}`")
            elif skipped:
                say(f"{r}: extracted features for {len(sets)} of {len(datasets)} datasets")
            records += audit_sets(sets, source, K=permutations, seed=seed, progress=progress,
                                  matches=matches if (r, source) == ("stft", "upstream") else None,
                                  directory=base.folder(directory, r, source))
        say(f"{r}: audited in {time.perf_counter() - t:.1f} s")
    return AuditResult(records, matches, permutations, notes, time.perf_counter() - t0)


def write(result: AuditResult, out: Path) -> list[Path]:
    """OUT/audit.csv and, given stft matches, OUT/stft_matching.csv; returns the paths."""
    written = [tables.write_csv(Path(out) / "audit.csv", AUDIT_FIELDS,
                                [[x[f] for f in AUDIT_FIELDS] for x in result.records])]
    if result.matches:
        written.append(tables.write_csv(Path(out) / "stft_matching.csv",
                                        ["dataset", "upstream_row", "matched_sound", "own_sound", "r"],
                                        [row for m in result.matches.values() for row in m.rows()]))
    return written


def medians(records: list[dict]) -> list[tuple[str, str, int, float, float, float, float, int]]:
    """Per (representation, source): datasets, medians of zero-shot euclidean and cosine
    signed P^2, of observed EV and of the null median EV, and the datasets with p <= 0.05
    (with 19 relabellings the smallest p is 0.05: beating every one of them)."""
    out = []
    for key in dict.fromkeys((x["representation"], x["source"]) for x in records):
        xs = [x for x in records if (x["representation"], x["source"]) == key]

        def med(f, xs=xs):  # binds this key's records
            v = np.array([x[f] for x in xs], dtype=np.float64)
            v = v[np.isfinite(v)]
            return float(np.median(v)) if v.size else float("nan")

        out.append((*key, len(xs), med("zeroshot_euclidean_p2"), med("zeroshot_cosine_p2"), med("observed_ev"),
                    med("null_median"), sum(x["p_value"] <= 0.05 for x in xs)))
    return out


def summary(result: AuditResult) -> list[str]:
    """The notes, the stft matching per dataset, the medians per (representation,
    source) and what the audit does not prove."""
    lines = list(result.notes)
    matches, records = result.matches, result.records
    if matches:
        lines.append("\nstft: each upstream row matched one to one to our extracted stft of the sorted audio files "
                     "(Pearson r between feature vectors):")
        published = {x["dataset"]: x for x in records if (x["representation"], x["source"]) == ("stft", "upstream")}
        for d, m in matches.items():
            z = published.get(d, {}).get("zeroshot_cosine_p2")
            lines.append(f"  {d:22s} {m.own_position:2d}/{len(m.perm)} rows at their own position, median r "
                         f"{m.median_r:.4f}, min r {m.r.min():.4f}; zero-shot cosine P^2 "
                         f"{z if z is None else f'{z:+.3f}'} as published, {m.repaired_cosine_p2:+.3f} re-paired")
            lines.append(f"  {'':22s} upstream row i is sound: {' '.join(map(str, m.perm))}")
        own = sum(m.own_position for m in matches.values())
        lines.append(f"  in all {own} of {sum(len(m.perm) for m in matches.values())} rows at their own position; "
                     f"median over datasets of the re-paired zero-shot cosine P^2 "
                     f"{np.median([m.repaired_cosine_p2 for m in matches.values()]):+.3f} (euclidean "
                     f"{np.median([m.repaired_euclidean_p2 for m in matches.values()]):+.3f})")
    K = result.permutations
    lines.append(f"\nmedians over datasets (zero-shot: signed P^2 = sign(P) P^2 of unweighted distances; EV: the "
                 f"exact optimum, in-sample; null: {K} relabellings, so p >= {1 / (K + 1):.3f}):")
    lines.append(f"  {'representation':14s} {'source':9s} {'datasets':>8s} {'euclidean':>9s} {'cosine':>7s} "
                 f"{'EV':>6s} {'null EV':>7s} {'p<=0.05':>7s}")
    for r, source, n, eu, cos, ev, nm, sig in medians(records):
        lines.append(f"  {r:14s} {source:9s} {n:8d} {eu:+9.3f} {cos:+7.3f} {ev:6.3f} {nm:7.3f} {f'{sig}/{n}':>7s}")
    found = convergence.counted((x["representation"], f"{x['dataset']} ({x['source']})", x["permutations"] + 1,
                                 x["uncertified"]) for x in records)
    lines += convergence.report("audit", found, "exact")
    lines.append("\n" + textwrap.fill(PROOF, width=100))
    lines.append(f"wall time {result.seconds:.1f} s")
    return lines
