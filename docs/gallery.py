"""Every figure the command line writes, on small inputs: ``python docs/gallery.py``.

Runs the ``timbre-jax`` commands that write figures (learn --plot, robustness, null,
crossval, transfer, leaderboard, reliability, raters, importance, space) on a few studies
and cheap representations, with the exact solver and few noise realizations, permutations
and bootstrap samples, copies each PNG into docs/gallery/ and writes docs/gallery.md: each
figure, one sentence saying what it shows, and the command that made it.

The files come from the cache ($TIMBRE_JAX_HOME, default ~/.cache/timbre-jax), fetched
where missing (from $TIMBRE_JAX_MIRROR when set, e.g. an offline mirror).  A few minutes
on two cores.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (figure file written by the command, name in the gallery, what it shows); the command's
# arguments come first, with OUT for its output folder.
LEARN = "--quiet learn --solver exact"
FIGURES = [
    (f"{LEARN} --representation stmf --dataset Barthet2010 --plot OUT/map_stmf.png",
     [("map_stmf.png", "learn_map_stmf.png",
       "The weight map of an STMF metric: the importance 1/w² of its 30976 features summed onto "
       "frequency × scale, frequency × rate and scale × rate.")]),
    (f"{LEARN} --representation mertcat --dataset Grey1977 --plot OUT/map_mertcat.png",
     [("map_mertcat.png", "learn_map_mertcat.png",
       "The weight map of a MERTCAT metric: the importance of each of the 768 dimensions of each of MERT's "
       "13 layers.")]),
    (f"{LEARN} --representation cochlea --dataset Grey1977 --plot OUT/map_cochlea.png",
     [("map_cochlea.png", "learn_map_cochlea.png",
       "The weight map of any other representation (here the 128-channel cochleagram): importance over the "
       "feature index, on a log scale.")]),
    ("--quiet robustness --representations stmf,encodec --datasets Grey1977,Barthet2010 --solver exact "
     "--levels 5 --realizations 2 --out OUT",
     [("fig1a_Barthet2010.png", "robustness_fig1a_Barthet2010.png",
       "Fig. 1a: the explained variance of the human ratings by metrics learned on ever noisier ratings, "
       "one curve per representation (in-sample: the human ratings of the same pairs)."),
      ("fig1a_Grey1977.png", "robustness_fig1a_Grey1977.png",
       "Fig. 1a on a study with no published stmf features: the legend says so instead of dropping the "
       "curve silently."),
      ("fig1b.png", "robustness_fig1b.png",
       "Fig. 1b: the area under each Fig. 1a curve, in dB relative to stmf; the cells without stmf on their "
       "study say so and give the area.")]),
    ("--quiet robustness --representations encodec,cochlea --datasets Grey1977 --solver exact "
     "--levels 5 --realizations 2 --out OUT",
     [("fig1b.png", "robustness_fig1b_without_stmf.png",
       "Fig. 1b without stmf in the run: no reference to compare with, so the cells are the areas "
       "themselves.")]),
    ("--quiet null --representations cochlea --datasets Grey1977,McAdams1995,Barthet2010 --solver exact "
     "--permutations 20 --out OUT",
     [("null_cochlea.png", "null_cochlea.png",
       "The permutation test: the in-sample explained variance of the metric learned with the true sound "
       "labels against metrics learned after the sounds were randomly relabelled (in-sample too).")]),
    ("--quiet crossval --representations cochlea,encodec --datasets Grey1977,McAdams1995,Barthet2010 "
     "--solver exact --out OUT",
     [("crossval.png", "crossval.png",
       "Leave-one-sound-out cross-validation: the explained variance on sounds left out of the fit "
       "against the one on the sounds it was fitted on.")]),
    ("--quiet transfer --representations cochlea --datasets Grey1977,Grey1978,McAdams1995 --out OUT",
     [("transfer_cochlea.png", "transfer_cochlea.png",
       "The transfer matrix: a metric learned on one study (row) scored on another (column, a held-out "
       "study; the diagonal is in-sample), with the unweighted distance, zero-shot, as the baseline row.")]),
    ("--quiet leaderboard --representations cochlea,encodec,stmf --datasets Grey1977,Barthet2010 "
     "--bootstrap 50 --out OUT",
     [("leaderboard.png", "leaderboard.png",
       "The leaderboard: the benchmark's pooled rank metric and the median explained variances of each "
       "representation over the studies, each bar zero-shot (no fit), in-sample or held-out; the "
       "representations are ranked by the held-out per-anchor Spearman of the learned metric."),
      ("compare_Grey1977.png", "leaderboard_compare_Grey1977.png",
       "One study's comparison of the representations: held-out explained variance with bootstrap intervals; "
       "stmf has no features for this study and the figure says so."),
      ("compare_Barthet2010.png", "leaderboard_compare_Barthet2010.png",
       "The same comparison on a study with every representation, with a line over each significantly "
       "different pair.")]),
    ("--quiet reliability --datasets Lakatos2000_Comb --splits 200 --out OUT",
     [("reliability_Lakatos2000_Comb.png", "reliability_Lakatos2000_Comb.png",
       "Rater reliability from each participant's ratings: every listener against the others (rsatoolbox's "
       "noise-ceiling bounds; outliers flagged, never removed), the split-half reliability of the mean ratings "
       "(the ceiling on any model's explained variance) and the noise of the mean measured beside the paper's "
       "guessed level.")]),
    ("--quiet raters --representations cochlea,encodec --datasets Lakatos2000_Comb --splits 20 --out OUT",
     [("raters_Lakatos2000_Comb.png", "raters_Lakatos2000_Comb.png",
       "The paper's robustness question with real rater noise: metrics learned on the mean ratings of half "
       "of the listeners, scored on that half, on the other half and on everyone, over random splits.")]),
    ("--quiet robustness --representations cochlea,encodec --datasets Lakatos2000_Comb --levels 5 "
     "--realizations 2 --out OUT",
     [("fig1a_Lakatos2000_Comb.png", "robustness_fig1a_Lakatos2000_Comb.png",
       "Fig. 1a on a study with per-participant ratings: the noise of its mean ratings measured from the "
       "listeners (dotted) beside the paper's guessed level δ̄ (dashed).")]),
    ("--quiet extract --representation descriptors --datasets Grey1977,McAdams1995,Barthet2010", []),
    (f"{LEARN} --representation descriptors --dataset McAdams1995 --bootstrap 50 --plot OUT/ranked.png",
     [("ranked.png", "learn_ranked_descriptors.png",
       "The weights of a representation with named dimensions (the 31 descriptors), ranked: each one's share "
       "of the learned distance with its bootstrap interval over the sounds, and how often the refitted "
       "optimum uses it.")]),
    ("--quiet importance --representations descriptors --datasets Grey1977,McAdams1995,Barthet2010 "
     "--bootstrap 50 --out OUT",
     [("importance_descriptors.png", "importance_descriptors.png",
       "Which descriptors matter on which study: the importance of each named dimension in the metric learned "
       "on each study, side by side; a dot where the interval excludes 0.")]),
    ("--quiet space --representations descriptors,cochlea --datasets McAdams1995 --out OUT",
     [("space_McAdams1995.png", "space_McAdams1995.png",
       "A timbre space: metric MDS of the mean ratings (2-D, the sounds' names), its axes named by the "
       "descriptor each correlates with most, and the models' spaces moved onto it (Procrustes)."),
      ("space3d_McAdams1995.png", "space3d_McAdams1995.png",
       "The 3-D human space as its three 2-D views."),
      ("correlations_McAdams1995.png", "correlations_McAdams1995.png",
       "Each human MDS dimension's correlation with each descriptor (the most correlated ones).")]),
]


def timbre_jax() -> list[str]:
    """The command line: the installed ``timbre-jax``, else the package run as a module."""
    found = shutil.which("timbre-jax")
    return [found] if found else [sys.executable, "-m", "timbre_jax.cli"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Needs the ratings and features of Grey1977, Grey1978, McAdams1995, "
                                       "Barthet2010 and Lakatos2000_Comb (fetched where missing); extracts the "
                                       "descriptors of three of them.")
    p.add_argument("--out", type=Path, default=HERE / "gallery",
                   help="folder of the PNG files (default docs/gallery); the page goes beside it, <out>.md")
    args = p.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    page = out.with_suffix(".md")
    entries, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="timbre-jax-gallery-") as work:
        for k, (command, figures) in enumerate(FIGURES):
            folder = Path(work) / f"run{k}"
            folder.mkdir()
            shown = command.replace("--quiet ", "").replace("OUT/", "").replace("OUT", "out")
            print(f"timbre-jax {shown}", flush=True)
            t = time.perf_counter()
            subprocess.run(timbre_jax() + shlex.split(command.replace("OUT", str(folder))), check=True,
                           stdout=subprocess.DEVNULL)
            print(f"  {time.perf_counter() - t:.1f} s", flush=True)
            for written, name, sentence in figures:
                shutil.copyfile(folder / written, out / name)
                entries.append((name, sentence, f"timbre-jax {shown}"))
    seconds = time.perf_counter() - t0
    lines = ["# Figure gallery", "",
             "Every kind of figure the `timbre-jax` command line writes, on small inputs (a few studies, the "
             "exact solver, few noise realizations, permutations and bootstrap samples). Made by "
             "`python docs/gallery.py`, which runs the commands below; `learn --plot` draws to the file it is "
             "given, the other commands into their `--out` folder. Every title says what is plotted and on "
             "what (representation, study and, where the command hands them to the figure, the features' "
             "source and the solver); every axis has its unit; a panel without data says so in words; every "
             "number of a learned metric says whether it is in-sample (scored on the pairs it was fitted on), "
             "held-out (on sounds or a study it never saw) or zero-shot (no fit).", ""]
    for name, sentence, command in entries:
        lines += [f"## {name.removesuffix('.png')}", "", sentence, "", "```", command, "```", "",
                  f"![{name}]({out.name}/{name})", ""]
    page.write_text("\n".join(lines))
    print(f"wrote {len(entries)} figures into {out} and {page} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
