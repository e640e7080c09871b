"""The ``timbre-jax`` argument parser: every subcommand, its options and their help."""

from __future__ import annotations

import argparse
import textwrap

from timbre_jax import solvers
from timbre_jax.cli import commands, data, names
from timbre_jax.cli.exits import EXIT_HELP
from timbre_jax.data import registry, studies
from timbre_jax.solvers import Lbfgsb
from timbre_jax.version import __version__

DESCRIPTION = (
    "Learn weighted Euclidean timbre metrics from human dissimilarity ratings and reproduce "
    "Pascal & Lagrange (2024). The usual order: `timbre-jax data fetch` downloads the ratings, "
    "audio and the paper's precomputed features (sha256-verified; `table` and `learn` also fetch "
    "the features they lack); `table` fits one metric per dataset and representation (the paper's "
    "Table I) and `learn` fits one; `robustness` (rater-noise sweep), `null` (permutation test) "
    "and `crossval` (leave-one-sound-out) then test the metrics. Every fit uses the exact solver "
    "unless told otherwise (--solver exact: the certified global optimum, milliseconds per fit); "
    "the paper's numbers come from its L-BFGS-B fit: add --solver lbfgsb to reproduce them "
    "(docs/reproducing.md). Commands that write a folder "
    "(--out) resume an interrupted run when given the same folder. Files are cached under "
    "$TIMBRE_JAX_HOME (default ~/.cache/timbre-jax); `timbre-jax data list` shows what is there. "
    "`timbre-jax COMMAND --help` lists each command's options with their defaults and the files it writes."
)
OUT_RULE = ("--out rule (every command): results are written only where --out says and never replace other "
            "results. The commands whose results are files require --out FOLDER (none picks a folder itself) and "
            "record the command and its settings in OUT/run.json: the same command with the same settings into "
            "the same folder resumes from the fits saved under OUT/chunks; another command, or other names, "
            "solver or options, into a folder that holds results is refused (exit 2), and so is a folder that "
            "holds files of the command's names but no run.json; unrelated files may stay. learn writes files "
            "only when given --out, --plot or --distances, and never over an existing file. extract and data fetch, "
            "add and import write into the cache ($TIMBRE_JAX_HOME) and take no --out.")

class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help says its default: "(default: X)" is added unless the help
    already says "default"; a required option says "(required)", a flag "(default: off)",
    and an option whose default is nothing says what that means in its help (else
    "(default: not set)").  Descriptions and epilogs are wrapped here, keeping paragraphs."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            return text
        if "default" in text.lower():
            return text
        if action.required:
            return f"{text} (required)"
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) or action.nargs == 0:
            return f"{text} (default: off)"
        if action.default is None or action.default is argparse.SUPPRESS:
            return f"{text} (default: not set)"
        return f"{text} (default: %(default)s)"


def _paragraphs(*parts: str) -> str:
    """Text for a raw description or epilog: each part a wrapped paragraph."""
    return "\n\n".join(textwrap.fill(" ".join(x.split()), width=88) for x in parts if x)


class Aliased(argparse._StoreAction):
    """Store the value and which of the option's spellings was typed (``<dest>_option``),
    so that an error names the option the user wrote (``--dataset`` or ``--datasets``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_option", option_string)
QUIET_HELP = "no progress bars (before or after the subcommand)"
STARTS_HELP = ("solve from this many starts (the first, then log-normal perturbations of it) and keep the best "
               f"(default {Lbfgsb.starts}; lbfgsb only: needs --solver lbfgsb)")
SOLVER_HELP = ("exact (default): the certified global optimum (a non-negative least squares, milliseconds per "
               "fit); lbfgsb: the paper's L-BFGS-B fit, name it to reproduce the paper's numbers (it may stop "
               "short of the optimum); an option of another solver is an error")
REPS_HELP = "comma list of representations, or 'all' (default); names below"
DATASETS_HELP = ("comma list of datasets (names below), or a selection: 'all' (default) and 'paper' are the paper's "
                 "17 studies, 'benchmark' the timbre benchmark's 21 (the 17 and 4 with audio and ratings only)")
SOURCE_HELP = ("features to fit: upstream (the paper's published features), extracted (computed by `timbre-jax "
               "extract`), a source made by `timbre-jax data import --source`, or auto (default: upstream for the "
               "built-in datasets in the paper's 8 representations, extracted for your own studies and embedders)")
MAXITER_HELP = f"L-BFGS-B iteration limit per fit (default {Lbfgsb.maxiter}; lbfgsb only: needs --solver lbfgsb)"
OUT_DIR_HELP = ("output folder (created; no default; other results there are never replaced, see the --out rule "
                "above); the same command with the same settings resumes from the fits saved under OUT/chunks")


def _at_least(minimum: int):
    """argparse type: an integer >= ``minimum``."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"{n}: give at least {minimum}")
        return n

    return parse


_positive, _count = _at_least(1), _at_least(0)


def _options(*groups: str) -> argparse.ArgumentParser:
    """A parent parser with the options several subcommands share, one definition each:
    ``names`` (--representations, --datasets), ``source``, ``fit`` (--maxiter, --solver),
    ``starts``, ``sweep-out`` (the --out of a resumable per-representation sweep)."""
    p = argparse.ArgumentParser(add_help=False)
    if "names" in groups:
        p.add_argument("--representations", default="all", help=REPS_HELP)
        p.add_argument("--datasets", default="all", help=DATASETS_HELP)
    if "source" in groups:
        p.add_argument("--source", default="auto", type=names.source, help=SOURCE_HELP)
    if "fit" in groups:
        p.add_argument("--maxiter", type=_positive, default=None, help=MAXITER_HELP)
        p.add_argument("--solver", default=solvers.solver.DEFAULT, choices=list(solvers.available()),
                       help=SOLVER_HELP)
    if "starts" in groups:
        p.add_argument("--starts", type=_positive, default=None, help=STARTS_HELP)
    if "sweep-out" in groups:
        p.add_argument("--out", required=True,
                       help=OUT_DIR_HELP + "/<representation>")
    return p


def _names_epilog() -> str:
    """The dataset and representation names, for the help of subcommands that take them."""
    lists = [("datasets (paper)", registry.PAPER),
             ("datasets (benchmark only)", [d for d in registry.BENCHMARK if d not in registry.PAPER]),
             ("your studies", studies.names() or ["none (`timbre-jax data add`)"]),
             ("representations", names.known_representations())]
    return "\n".join(textwrap.fill(", ".join(items), width=88, initial_indent=f"{what}: ", subsequent_indent="  ")
                     for what, items in lists)


def _finish(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Give every subcommand ``--quiet``, the help formatter that shows defaults, a
    description that says what it writes (the ``writes`` its command function carries:
    the ``WRITES`` of its analysis, see :func:`timbre_jax.cli.commands.writes`), the --out
    rule and the exit statuses, and, where it takes dataset or representation names, an
    epilog listing them.

    The subcommands' ``--quiet`` defaults to SUPPRESS, so that when absent it does not
    overwrite one given before the subcommand: either position works."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, sub in action.choices.items():
            command = f"{prefix}{name}"
            sub.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
            sub.formatter_class = HelpFormatter
            writes = getattr(sub.get_default("func"), "writes", None)
            if writes is not None:
                sub.description = _paragraphs(helps.get(name, ""), f"Writes: {writes}.", OUT_RULE, EXIT_HELP)
            else:  # a group (`data`): its commands say what they write
                sub.description = _paragraphs(helps.get(name, ""), f"`timbre-jax {command} COMMAND --help` says "
                                              "what each command writes.", EXIT_HELP)
            if {a.dest for a in sub._actions} & {"dataset", "datasets", "representation", "representations"}:
                sub.epilog = _names_epilog()
            _finish(sub, f"{command} ")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="timbre-jax", description=_paragraphs(DESCRIPTION), formatter_class=HelpFormatter,
                                epilog=_paragraphs(OUT_RULE, EXIT_HELP))
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.add_argument("--version", action="version", version=f"timbre-jax {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True)

    group = sub.add_parser("data", help="fetch, list, verify and import upstream files")
    dsub = group.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download ratings, audio and precomputed features (sha256-verified)")
    f.add_argument("--what", default="ratings,audio,features", help="comma list of ratings, audio, features")
    f.add_argument("--representation", "--representations", action=Aliased, default="all",
                   help="comma list of the paper's representations whose features to fetch, or 'all'")
    f.add_argument("--mirror", default=None, help="base URL or folder instead of https://raw.githubusercontent.com, "
                   "e.g. file:///path/to/timbre-data or /path/to/timbre-data; remembered for later commands "
                   "(default: $TIMBRE_JAX_MIRROR, else the remembered mirror, else GitHub)")
    f.set_defaults(func=data.cmd_data_fetch)
    ls = dsub.add_parser("list", help="what is cached and what is missing")
    ls.add_argument("--representation", "--representations", action=Aliased, default="all", help=REPS_HELP)
    ls.set_defaults(func=data.cmd_data_list)
    v = dsub.add_parser("verify", help="re-hash every cached file")
    v.set_defaults(func=data.cmd_data_verify)
    im = dsub.add_parser("import", help="import features computed elsewhere (.pkl read safely, .npy, .npz, .csv)")
    im.add_argument("file", help="the features: an upstream-layout pickle (dict with 'representations', n_features x "
                    "l_sounds), a .npy (l_sounds x n_features, rows in sound order), a .npz ('features', optional "
                    "'sounds' and 'dimension_names') or a .csv (sound name, then the features, one row per sound; "
                    "a header row names the features); any number of features")
    im.add_argument("--dataset", required=True, help="the dataset whose sounds it describes: built-in (below), "
                    "added with `data add`, or a new name")
    im.add_argument("--representation", required=True, help="the name to store it under (any plain name)")
    im.add_argument("--source", default="imported",
                    help="store the features under this source name (default imported; never upstream or extracted: "
                    "naming those is a usage error)")
    im.add_argument("--ratings", help="for a new dataset name only: its ratings (the formats of `data add "
                    "--ratings`, in the order of the file's rows); default: the pickle's 'dissimilarities'")
    im.set_defaults(func=data.cmd_data_import)
    ad = dsub.add_parser("add", help="add your own study: a folder of sounds and a ratings file (copied to the cache)")
    ad.add_argument("name", help="the study's name (letters, digits, '_', '.', '+', '-'; not a built-in dataset)")
    ad.add_argument("--audio", required=True, help="folder of audio files (wav, aiff, flac, ogg, ...); each file's "
                    "stem is a sound name")
    ad.add_argument("--ratings", required=True, help="a file or a folder: a long .csv with one row per judgement "
                    "(participant,sound_a,sound_b,rating; other names: --columns), a folder with one file per "
                    "participant (its name the id), or averaged ratings: a whitespace matrix (.txt) in the sorted "
                    "order of the file names (full symmetric or upper-triangular; diagonal ignored), a labelled "
                    "square .csv (sound names in the first row and column) or a long .csv with the header "
                    "sound_a,sound_b,dissimilarity; empty, nan, NA, N/A = unrated (docs/data.md)")
    ad.add_argument("--scale", metavar="LOW,HIGH", help="the rating scale, mapped linearly to [0, 1], e.g. 1,9 "
                    "(default: not set: every rating must be in [0, 1] already)")
    ad.add_argument("--similarity", action="store_true", help="the task asked how similar: take 1 - x after --scale")
    ad.add_argument("--average-orders", action="store_true", help="average a pair's two orders (A-B and B-A) where "
                    "they differ, instead of refusing the file")
    ad.add_argument("--exclude", action="append", metavar="NAME", help="leave this sound out (its audio file and "
                    "every rating naming it); repeatable (default: every sound is kept)")
    ad.add_argument("--columns", metavar="ROLE=COL,...", help="the long CSV's columns, e.g. participant=Subject,"
                    "rating=Response (roles: participant, sound_a, sound_b, rating; default: found by their names)")
    ad.set_defaults(func=data.cmd_data_add)
    rm = dsub.add_parser("remove", help="remove a study added with `data add`, and every feature file made for it")
    rm.add_argument("name", help="the study's name")
    rm.set_defaults(func=data.cmd_data_remove)
    au = dsub.add_parser("audit", parents=[_options("names")],
                         help="evidence that each upstream representation's rows are paired with the right sounds "
                         "(stft row matching, zero-shot alignment, permutation null)")
    au.add_argument("--permutations", type=_positive, default=100,
                    help="relabellings per dataset of the exact permutation null (default 100)")
    au.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    au.add_argument("--out", required=True, help=OUT_DIR_HELP)
    au.set_defaults(func=commands.cmd_data_audit)

    listed, source, fit = _options("names"), _options("source"), _options("fit")
    starts, sweep_out = _options("starts"), _options("sweep-out")

    le = sub.add_parser("learn", parents=[source, fit, starts],
                        help="learn one metric and print its explained variance")
    le.add_argument("--dataset", help="the dataset to fit (names below); no default: give --dataset or --datasets")
    le.add_argument("--datasets", help="comma list: one metric across datasets (cross pairs unrated); no default: "
                    "give --dataset or --datasets")
    le.add_argument("--representation", required=True,
                    help="the features to weigh (names below, or one you extracted or imported)")
    le.add_argument("--init", default=None, choices=("nnls", "random"),
                    help="L-BFGS-B start: nnls (the paper's warm start, default) or random (Thoret et al. 2021); "
                    "lbfgsb only: needs --solver lbfgsb")
    le.add_argument("--seed", dest="solver_seed", type=int, default=None,
                    help=f"seed of the random start and of extra --starts (default {Lbfgsb.seed}; lbfgsb only: "
                    "needs --solver lbfgsb)")
    le.add_argument("--out", help="save the weights, explained variance and metadata to this .npz file "
                    "(default: not saved)")
    le.add_argument("--plot", help="draw the learned 1/w^2 to this PNG (default: not drawn)")
    le.add_argument("--distances", metavar="DIR", help="write each dataset's learned and unweighted distance matrices "
                    "to DIR/<dataset>.<representation>.learned.csv and .unweighted.csv (default: not written)")
    le.add_argument("--bootstrap", type=_count, default=200, help="named dimensions: bootstrap samples of the sounds "
                    "for their importance's 95%% intervals (default 200; 0: none)")
    le.add_argument("--bootstrap-seed", type=int, default=0,
                    help="seed of --bootstrap (default 0; --seed is the solver's)")
    le.set_defaults(func=commands.cmd_learn)

    t = sub.add_parser("table", parents=[listed, source, fit, starts],
                       help="Table I: explained variance for every dataset x representation")
    t.add_argument("--out", required=True, help=OUT_DIR_HELP + "/table")
    t.set_defaults(func=commands.cmd_table)

    zs = sub.add_parser("zeroshot", parents=[listed],
                        help="no fit: correlate unweighted feature distances with the ratings")
    zs.add_argument("--source", default="auto", type=names.source, help=SOURCE_HELP.replace("to fit", "to compare"))
    zs.add_argument("--bootstrap", type=_count, default=1000,
                    help="bootstrap samples of the sounds per dataset for the 95%% intervals (default 1000; 0: none)")
    zs.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    zs.add_argument("--out", required=True, help="output folder (created; no default, see the --out rule above)")
    zs.set_defaults(func=commands.cmd_zeroshot)

    rl = sub.add_parser("reliability", help="no fit: how much the listeners agree (split-half, alpha, "
                        "test-retest, leave-one-out), the noise ceilings and the measured rater noise, for the "
                        "studies with per-participant ratings")
    rl.add_argument("--datasets", default="all", help="comma list of datasets (names below), or a selection: "
                    "'all' (default: the paper's 17 studies and your studies), 'paper', 'benchmark'; those without "
                    "per-participant ratings are skipped, saying why")
    rl.add_argument("--splits", type=_positive, default=1000,
                    help="random halves of the participants for the split-half reliability (default 1000)")
    rl.add_argument("--seed", type=int, default=0, help="seed of the random halves (default 0)")
    rl.add_argument("--out", required=True, help="output folder (created; no default, see the --out rule above)")
    rl.set_defaults(func=commands.cmd_reliability)

    ex = sub.add_parser("extract", help="compute a representation from the audio (needs the extract extra)")
    ex.add_argument("--representation", help="a built-in representation to compute (names below, crepe, and the "
                    "timbre benchmark's mfcc and mfcc-aligned); "
                    "no default: give one of --representation, --embedder, --hear")
    ex.add_argument("--embedder", metavar="SPEC", help="your own embedder: package.module:function or "
                    "path/to/file.py:function, called as function(audio float32 (samples,), sample_rate) -> "
                    "(dims,) or (frames, dims); audio at the file's rate unless function.sample_rate is set "
                    "(default: not set)")
    ex.add_argument("--hear", metavar="MODULE", help="a HEAR-API package (load_model, get_scene_embeddings) "
                    "(default: not set)")
    ex.add_argument("--aligned", action="store_true", help="with --embedder: keep its (frames, dims) output frame "
                    "by frame, two sounds compared after zero-padding the shorter one's audio to the longer one's "
                    "length (default: averaged over frames)")
    ex.add_argument("--name", help="with --embedder or --hear: the representation name to save the features under "
                    "(no default: required with them)")
    ex.add_argument("--datasets", "--dataset", dest="datasets", action=Aliased, default="all", help=DATASETS_HELP)
    ex.add_argument("--checkpoint", default=None, help="local checkpoint (deep models); 'random-init' for tests "
                    "(default: the model's published weights from the local Hugging Face cache)")
    ex.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where torch runs (default cpu)")
    ex.set_defaults(func=commands.cmd_extract)

    ro = sub.add_parser("robustness", parents=[listed, source, fit, sweep_out],
                        help="noise sweep: refit on degraded ratings, score on human ratings")
    ro.add_argument("--levels", type=_positive, default=9,
                    help="number of levels delta in logspace(-1, 1) (default 9)")
    ro.add_argument("--realizations", type=_positive, default=5, help="noise draws per level (default 5)")
    ro.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    ro.add_argument("--std-scale", action="store_true",
                    help="scale the noise by std(s) (upstream notebook; default: off, unscaled)")
    ro.add_argument("--chunk-groups", type=_positive, default=None,
                    help="datasets per batched solve (default: fit memory)")
    ro.set_defaults(func=commands.cmd_robustness)

    ra = sub.add_parser("raters", parents=[listed, source, fit, sweep_out],
                        help="robustness with the listeners' own noise: learn on the mean of half the participants, "
                        "score on the other half and on all (studies with per-participant ratings)")
    ra.add_argument("--splits", type=_positive, default=100,
                    help="random splits of the participants into halves per study (default 100)")
    ra.add_argument("--seed", type=int, default=0, help="seed of the splits (default 0)")
    ra.add_argument("--chunk-groups", type=_positive, default=None,
                    help="datasets per batched solve (default: fit memory)")
    ra.set_defaults(func=commands.cmd_raters)

    nu = sub.add_parser("null", parents=[listed, source, fit, sweep_out],
                        help="permutation null: refit on randomly relabelled sounds")
    nu.add_argument("--permutations", type=_positive, default=100, help="relabellings per dataset (default 100)")
    nu.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    nu.set_defaults(func=commands.cmd_null)

    cv = sub.add_parser("crossval", parents=[listed, source, fit, sweep_out],
                        help="leave-one-sound-out cross-validation")
    cv.set_defaults(func=commands.cmd_crossval)

    ev = sub.add_parser("evaluate", parents=[listed, source],
                        help="one honest row per dataset x representation: the exact optimum beside its permutation "
                        "null, its held-out value and the zero-shot alignment")
    ev.add_argument("--permutations", type=_positive, default=100, help="relabellings per dataset (default 100)")
    ev.add_argument("--bootstrap", type=_count, default=1000,
                    help="bootstrap samples of the sounds per dataset for the 95%% intervals (default 1000; 0: none)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the permutations and of the bootstrap (default 0)")
    ev.add_argument("--distances", action="store_true", help="also write each study's learned and unweighted "
                    "distance matrices and the weights behind ev_exact under OUT/distances/<representation>/")
    ev.add_argument("--out", required=True, help=OUT_DIR_HELP)
    ev.set_defaults(func=commands.cmd_evaluate)

    tr = sub.add_parser("transfer", parents=[listed, source],
                        help="learn the metric on one study, score it on another: a studies x studies matrix of EV "
                        "for one representation")
    tr.add_argument("--out", required=True, help="output folder (created; no default, see the --out rule above)")
    tr.set_defaults(func=commands.cmd_transfer)

    ip = sub.add_parser("importance", parents=[source], help="which named dimensions (descriptors) matter on each "
                        "study: the exact metric's 1/w^2 as shares, with bootstrap intervals")
    ip.add_argument("--representations", default="descriptors", help="comma list of representations with named "
                    "dimensions (default descriptors; the others are skipped, saying why)")
    ip.add_argument("--datasets", default="all", help=DATASETS_HELP)
    ip.add_argument("--bootstrap", type=_count, default=200, help="bootstrap samples per study (default 200; 0: none)")
    ip.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    ip.add_argument("--out", required=True, help="output folder (created; no default, see the --out rule above)")
    ip.set_defaults(func=commands.cmd_importance)

    sp = sub.add_parser("space", parents=[source], help="timbre spaces: metric MDS of the ratings (2-D, 3-D), its "
                        "axes read by descriptors, model spaces aligned to it")
    sp.add_argument("--datasets", default="all", help=DATASETS_HELP)
    sp.add_argument("--representations", help="comma list: each one's unweighted and learned (exact fit) distances "
                    "as spaces aligned to the human one (default: none)")
    sp.add_argument("--descriptors", default="descriptors", help="the named features the axes are read by")
    sp.add_argument("--out", required=True, help="output folder (created; no default, see the --out rule above)")
    sp.set_defaults(func=commands.cmd_space)

    lb = sub.add_parser("leaderboard", parents=[listed],
                        help="the timbre benchmark's rank metrics pooled over every study, beside the EV numbers, "
                        "with bootstrap intervals per study and paired comparisons")
    lb.add_argument("--source", default="auto", type=names.source,
                    help="features: auto (default: upstream where the paper published them, extracted elsewhere, "
                    "per study), upstream, extracted or an imported source")
    lb.add_argument("--bootstrap", type=_count, default=1000,
                    help="bootstrap samples of the sounds per study (default 1000; 0: no intervals)")
    lb.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    lb.add_argument("--margin", type=float, default=0.1,
                    help="triplet agreement: rating differences above this count (default 0.1)")
    lb.add_argument("--out", required=True, help=OUT_DIR_HELP + "; 'all' datasets means the built-in ones and "
                    "your studies")
    lb.set_defaults(func=commands.cmd_leaderboard)

    _finish(p)
    return p


