"""The commands that compute: learn, extract and the analyses.  Each maps its arguments
to names and a solver object, calls the library and prints what it returns; an analysis
is ``run``, ``summary`` and ``write`` of its module (:mod:`timbre_jax.analyses.base`), and
what it writes (its ``WRITES``, marked on the command by :func:`writes`) is what the
command's ``--help`` says."""

from __future__ import annotations

import sys
from pathlib import Path

from timbre_jax import solvers
from timbre_jax.analyses import (
    audit,
    crossval,
    evaluate,
    importance,
    leaderboard,
    null,
    raters,
    reliability,
    robustness,
    single,
    space,
    table,
    transfer,
    zeroshot,
)
from timbre_jax.cli import names, outputs
from timbre_jax.data import store, studies
from timbre_jax.errors import TimbreJaxError, UsageError
from timbre_jax.fit import processes

# The options of each command that become the solver's own: flag dest -> (flag, solver field).
SOLVER_OPTIONS = {"maxiter": ("--maxiter", "maxiter"), "starts": ("--starts", "starts"), "init": ("--init", "init"),
                  "solver_seed": ("--seed", "seed")}


EXTRACT_WRITES = ("one feature file per dataset, $TIMBRE_JAX_HOME/features/extracted/<representation>/<dataset>.npz "
                  "(the representation is --representation or --name); no --out: the fits read the features "
                  "from there (--source extracted)")


def writes(text: str):
    """Mark a command function with what it writes (``command.writes``), for its ``--help``."""

    def mark(command):
        command.writes = text
        return command

    return mark


def solver_of(args) -> solvers.Solver:
    """The solver object that ``--solver`` and the solver options given ask for.  An
    option the solver does not have is a usage error that says what to type: the
    options of the paper's L-BFGS-B (--maxiter, --starts, --init, --seed) need
    ``--solver lbfgsb``, the default being the exact solver."""
    given = {field: (flag, getattr(args, dest)) for dest, (flag, field) in SOLVER_OPTIONS.items()
             if getattr(args, dest, None) is not None}
    own = solvers.options_of(args.solver)
    for field, (flag, _) in given.items():
        if field not in own:
            others = [name for name in solvers.available() if field in solvers.options_of(name)]
            if not others:
                raise UsageError(f"the {args.solver} solver has no option {flag}")
            default = " (the default)" if args.solver == solvers.solver.DEFAULT else ""
            raise UsageError(f"{flag} is an option of the {' and '.join(others)} solver, not of {args.solver}"
                             f"{default}: add --solver {others[0]}, or leave out {flag}")
    return solvers.named(args.solver, **{field: value for field, (_, value) in given.items()})


def _analysis(module, args, **options) -> int:
    """Run the analysis ``module`` into ``--out``: claim the folder (the --out rule,
    :mod:`timbre_jax.cli.outputs`), run, print its summary, write its files."""
    out, reps, datasets = names.start(args)
    resolved = {"representations": reps, "datasets": datasets}
    if hasattr(args, "solver"):
        options["solver"] = solver_of(args)
        resolved["solver"] = options["solver"].settings
    if hasattr(args, "source"):
        options["source"] = args.source
    outputs.claim(out, outputs.command_of(args), outputs.settings(args, SOLVER_OPTIONS, **resolved), module.WRITES)
    return _report(module, module.run(reps, datasets, progress=not args.quiet, **options), out)


def warn(line: str) -> None:
    """One warning line on stderr."""
    print(f"timbre-jax: warning: {line}", file=sys.stderr)


def _report(module, result, out: Path) -> int:
    """Write the analysis's files into ``out``, then print its summary, its warnings (stderr,
    where the module has ``warning_lines(result)``) and where the files are: in process 0
    only, when several share the run (each has every result).  Files first, so that a
    reader who goes away (`| head`) does not cost them."""
    if processes.index() != 0:
        return 0
    written = module.write(result, out)
    for line in module.summary(result):
        print(line)
    for line in getattr(module, "warning_lines", lambda result: [])(result):
        warn(line)
    for path in written:
        print(f"wrote {path}")
    return 0


@writes(table.WRITES)
def cmd_table(args) -> int:
    return _analysis(table, args, directory=Path(args.out) / "chunks" / "table")


@writes(robustness.WRITES)
def cmd_robustness(args) -> int:
    return _analysis(robustness, args, n_levels=args.levels, realizations=args.realizations, seed=args.seed,
                     std_scale=args.std_scale, chunk_groups=args.chunk_groups, directory=Path(args.out) / "chunks")


@writes(raters.WRITES)
def cmd_raters(args) -> int:
    return _analysis(raters, args, splits=args.splits, seed=args.seed, chunk_groups=args.chunk_groups,
                     directory=Path(args.out) / "chunks")


@writes(null.WRITES)
def cmd_null(args) -> int:
    return _analysis(null, args, permutations=args.permutations, seed=args.seed, directory=Path(args.out) / "chunks")


@writes(crossval.WRITES)
def cmd_crossval(args) -> int:
    return _analysis(crossval, args, directory=Path(args.out) / "chunks")


@writes(zeroshot.WRITES)
def cmd_zeroshot(args) -> int:
    return _analysis(zeroshot, args, samples=args.bootstrap, seed=args.seed)


@writes(reliability.WRITES)
def cmd_reliability(args) -> int:
    out = names.check_out_dir(args.out)
    chosen = ([*names.datasets("all"), *studies.names()] if args.datasets in (None, "all")
              else names.datasets(args.datasets))
    outputs.claim(out, outputs.command_of(args), outputs.settings(args, datasets=chosen), reliability.WRITES)
    return _report(reliability, reliability.run(chosen, splits=args.splits, seed=args.seed,
                                                progress=not args.quiet), out)


@writes(evaluate.WRITES)
def cmd_evaluate(args) -> int:
    return _analysis(evaluate, args, permutations=args.permutations, seed=args.seed, samples=args.bootstrap,
                     distances=args.distances, directory=Path(args.out) / "chunks")


@writes(importance.WRITES)
def cmd_importance(args) -> int:
    return _analysis(importance, args, samples=args.bootstrap, seed=args.seed)


@writes(transfer.WRITES)
def cmd_transfer(args) -> int:
    return _analysis(transfer, args)


@writes(space.WRITES)
def cmd_space(args) -> int:
    # Per-cell --source auto (as leaderboard): the human space needs no features, a model mixes no sources.
    out = names.check_out_dir(args.out)
    reps = [] if args.representations is None else names.representations(args.representations)
    chosen = names.datasets(args.datasets, args.source)
    descriptors = store.check_name(args.descriptors.strip(), "--descriptors representation")
    outputs.claim(out, outputs.command_of(args), outputs.settings(args, representations=reps, datasets=chosen),
                  space.WRITES)
    return _report(space, space.run(reps, chosen, source=args.source, descriptors=descriptors,
                                    progress=not args.quiet), out)


@writes(leaderboard.WRITES)
def cmd_leaderboard(args) -> int:
    out = names.check_out_dir(args.out)
    reps = names.representations(args.representations)
    chosen = ([*names.datasets("all"), *studies.names()] if args.datasets in (None, "all")
              else names.datasets(args.datasets))
    outputs.claim(out, outputs.command_of(args), outputs.settings(args, representations=reps, datasets=chosen),
                  leaderboard.WRITES)
    return _report(leaderboard, leaderboard.run(reps, chosen, source=args.source, samples=args.bootstrap,
                                                seed=args.seed, margin=args.margin, directory=out / "chunks",
                                                progress=not args.quiet), out)


@writes(audit.WRITES)
def cmd_data_audit(args) -> int:
    return _analysis(audit, args, permutations=args.permutations, seed=args.seed,
                     directory=Path(args.out) / "chunks")


@writes(single.WRITES)
def cmd_learn(args) -> int:
    # Neither given must not mean every dataset (one metric over all 17 is rarely meant).
    if (args.dataset is None) == (args.datasets is None):
        raise UsageError("give --dataset D, or --datasets A,B,... for one metric across datasets")
    option, value = ("--dataset", args.dataset) if args.dataset is not None else ("--datasets", args.datasets)
    names.given(value, option, "a dataset name" if option == "--dataset" else "a comma list of dataset names")
    chosen = names.datasets(value, args.source, option)
    args.source = names.resolve_source(args.source, [names.representation(args.representation)], chosen)
    for path, option in ((args.out, "--out"), (args.plot, "--plot")):
        if path:
            outputs.check_new_file(path, option)
    tables = single.distance_paths(args.distances, args.representation, chosen) if args.distances else []
    for path in tables:
        outputs.check_new_file(path, "--distances")
    result = single.run(args.representation, chosen, source=args.source, solver=solver_of(args),
                        progress=not args.quiet, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed)
    labels = [label for label, path in (("weights", args.out), ("weight map", args.plot)) if path]
    written = list(zip(labels, single.write(result, args.out, plot=args.plot)))  # files first, as in _report
    written += [("distances", path) for path in (single.write_distances(result, args.distances) if tables else [])]
    for line in single.summary(result):
        print(line)
    for line in single.warning_lines(result):
        warn(line)
    for label, path in written:
        print(f"{label} -> {path}")
    return 0


@writes(EXTRACT_WRITES)
def cmd_extract(args) -> int:
    try:
        import timbre_jax_extract  # lazy: torch, loaded only by the command that extracts (the extract extra)
    except ImportError as e:  # the installation, not the command: exit 1
        raise TimbreJaxError("extraction needs the 'extract' extra (torch, kymatio, transformers; "
                             f"`pip install -e '.[extract]'`): {e}") from None
    chosen = [o for o, v in (("--representation", args.representation), ("--embedder", args.embedder),
                             ("--hear", args.hear)) if v is not None]
    if len(chosen) != 1:
        raise UsageError("give one of --representation NAME, --embedder SPEC or --hear MODULE"
                         + (f", not {' and '.join(chosen)}" if chosen else ""))
    for option, value in (("--representation", args.representation), ("--embedder", args.embedder),
                          ("--hear", args.hear), ("--name", args.name)):
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty: give a name")
    if (args.embedder or args.hear) and not args.name:
        raise UsageError("--embedder and --hear need --name REP: the representation name its features are saved under")
    if args.name and args.representation:
        raise UsageError("--name goes with --embedder or --hear; --representation extracts under its own name")
    if args.aligned and not args.embedder:
        raise UsageError("--aligned goes with --embedder (a HEAR module gives no frames; for the frame-aligned MFCC "
                         "give --representation mfcc-aligned)")
    chosen = names.datasets(args.datasets, option=names.option_of(args, "datasets", "--datasets"))
    extractor = None
    if args.embedder or args.hear:
        from timbre_jax_extract.models import embedder  # lazy: torch, as above

        name = args.name
        if name in timbre_jax_extract.EXTRACTABLE:
            raise UsageError(f"--name {name}: that is a built-in representation; name your embedder otherwise")
        extractor = (embedder.Embedder(embedder.load_function(args.embedder), name, spec=args.embedder,
                                       aligned=args.aligned)
                     if args.embedder else embedder.hear_embedder(args.hear, name))
    written = timbre_jax_extract.run(args.representation, chosen, checkpoint=args.checkpoint, device=args.device,
                                     progress=not args.quiet, extractor=extractor)
    for p in written:
        print(f"wrote {p}")
    return 0
