"""The ``timbre-jax`` command line.

Subcommands: ``data fetch|list|verify|import``, ``learn``, ``table``, ``extract``, and the
sweeps added by later modules.  Errors the user can fix (unknown names, missing files,
no network, bad data, an ``--out`` that cannot be written) end with a one-line message
and exit status 1 or 2, never a traceback, and the output paths are checked before any
fit.  Ctrl-C exits with status 130 and leaves only whole files (every write is atomic).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

from . import registry
from .errors import TimbreJaxError, UsageError
from .learn import DEFAULT

EXIT_FAIL = 1


def _known_representations() -> list[str]:
    """The paper's 8, crepe, and every other representation in the store (a user's embedder or import)."""
    from . import store

    extra = ["crepe", *store.stored_representations()]
    return [*registry.REPRESENTATIONS, *dict.fromkeys(r for r in extra if r not in registry.REPRESENTATIONS)]


def _reps(value):
    """Representation names; 'all' (or nothing) means the paper's 8: others are named."""
    if value is None or value in ("", "all"):
        return list(registry.REPRESENTATIONS)
    return registry.parse_list(value, _known_representations(), "representation(s)")


def _representation(value) -> str:
    """One representation name (learn, extract, data import)."""
    reps = [] if value in (None, "", "all") else _reps(value)
    if len(reps) != 1:
        raise UsageError(f"give one representation, not {value!r}")
    return reps[0]


def _datasets(value, source="auto"):
    """Dataset names: the built-in ones, the studies added with `data add`, and for an
    imported source those in the store; ``all`` is the 17 built-in datasets (for an
    imported source: what was imported into it)."""
    from . import store, studies

    builtin = source in (*store.SOURCES, "auto")
    stored = [] if source in ("upstream", "auto") else store.stored_datasets(source)
    if not builtin and value in (None, "", "all"):
        return stored
    if value in (None, "", "all"):
        return list(registry.DATASETS)
    known = [*registry.DATASETS, *studies.names()]
    try:
        return registry.parse_list(value, [*known, *(d for d in stored if d not in known)], "dataset(s)")
    except UsageError as e:
        choices = {*known, *stored}
        asked = {v.strip() for v in (value or "").split(",")} - choices
        elsewhere = [s for s in store.stored_sources() if s != source and asked & set(store.stored_datasets(s))]
        hint = f" (found in source {', '.join(elsewhere)}: pass --source)" if elsewhere else ""
        raise UsageError(f"{e}{hint}") from None


def _source(value):
    """--source: auto, upstream, extracted, or an imported source that exists in the store."""
    from . import store

    known = ["auto", *store.SOURCES, *(s for s in store.stored_sources() if s not in store.SOURCES)]
    if value not in known:
        hint = ("" if len(known) > len(store.SOURCES) + 1 else
                "; import one with `timbre-jax data import FILE --dataset D --representation R --source NAME`")
        raise argparse.ArgumentTypeError(f"unknown feature source {value!r}; choose from {', '.join(known)}{hint}")
    return value


def resolve_source(value: str, reps, names) -> str:
    """``--source auto``: upstream where the paper published every asked (representation,
    dataset), extracted where it published none of them; a mix is refused (one table must
    not mix the published features with your own)."""
    if value != "auto":
        return value
    published = {(r in registry.N_FEATURES and d in registry.DATASETS) for r in reps for d in names}
    if published != {True, False}:
        return "upstream" if published == {True} else "extracted"
    ours = sorted({r for r in reps if r not in registry.N_FEATURES} | {d for d in names if d not in registry.DATASETS})
    raise UsageError(f"the paper published features for some of these and not for {', '.join(ours)}: pass "
                     "--source upstream (the published features; the others are skipped) or --source extracted "
                     "(computed by `timbre-jax extract`)")


# ----------------------------------------------------------------------------- outputs

def _writable_dir(path: Path, option: str) -> None:
    """Raise UsageError unless ``path`` is, or can be created as, a writable directory.

    The nearest existing ancestor must be a writable directory (the missing part is
    created later, by the atomic writes)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {existing} is not writable")


def check_out_dir(path) -> Path:
    """``--out`` of table, robustness, null and crossval: a writable directory, checked
    before any fit so that a long run never ends on an unwritable path."""
    _writable_dir(Path(path), "--out")
    return Path(path)


def check_out_file(path, option: str) -> Path:
    """A file that ``option`` will write (learn's ``--out``, ``--plot``): not a directory,
    in a directory that is, or can be created, writable."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    _writable_dir(path.parent, option)
    return path


def _start(args):
    """The preamble of the commands that write a folder: check ``--out`` before loading
    anything, parse the names, start the clock.  Returns (out, representations,
    datasets, t0)."""
    out = check_out_dir(args.out)
    reps, names = _reps(args.representations), _datasets(args.datasets, getattr(args, "source", "upstream"))
    if hasattr(args, "source"):
        args.source = resolve_source(args.source, reps, names)
    return out, reps, names, time.perf_counter()


# ----------------------------------------------------------------------------- data

def cmd_data_fetch(args) -> int:
    from . import datasets, download

    what = registry.parse_list(args.what, ("ratings", "audio", "features"), "kind(s) of file")
    reps = registry.parse_list(args.representation, registry.REPRESENTATIONS, "representation(s)")
    paths = [p for w in what for p in registry.files(w, reps)]
    if args.mirror:  # a mistyped mirror is an error even when everything is cached
        download.check_mirror(download.mirror(args.mirror))
    report = download.fetch(paths, mirror_url=args.mirror, progress=not args.quiet)
    print(f"fetched {len(report.fetched)}, already verified {len(report.skipped)}, "
          f"missing upstream {len(report.missing)}, failed {len(report.failed)}")
    for rel in report.missing:
        print(f"  missing upstream: {rel}")
    for _, msg in report.failed:
        print(f"  FAILED: {msg}")
    # Upstream store files are derived from the downloads: rebuild damaged or stale ones.
    rebuilt, unrepaired = datasets.repair_upstream_store(mirror_url=args.mirror, progress=not args.quiet)
    for path in rebuilt:
        print(f"  rebuilt store file {path}")
    for _, msg in unrepaired:
        print(f"  FAILED: {msg}")
    return EXIT_FAIL if report.failed or unrepaired else 0


def cmd_data_list(args) -> int:
    from . import datasets, store, studies

    reps = registry.parse_list(args.representation, registry.REPRESENTATIONS, "representation(s)")
    header, rows, missing = datasets.inventory(reps)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    for r in reps:
        n = sum(row[header.index(r)] == "yes" for row in rows)
        print(f"{r}: features for {n}/{len(rows)} datasets")
    if missing:
        print("missing upstream features: " + ", ".join(missing))
    added = studies.names()
    if added:
        print("\nyour studies (`timbre-jax data add`):")
        for name in added:
            study = studies.load(name)
            feats = [f"{src} {r}" for src in store.stored_sources() for r in store.stored_representations(src)
                     if store.feature_file(src, r, name).exists()]
            print(f"  {name}: {len(study.sounds)} sounds, {study.rated_pairs} rated pairs; features: "
                  f"{', '.join(feats) or 'none yet (`timbre-jax extract --representation R --datasets ' + name + '`)'}")
    others = [s for s in store.stored_sources() if s != "upstream"]
    if others:
        print("\nother sources (use with --source NAME):")
        for source in others:
            for r in store.stored_representations(source):
                names = store.stored_datasets(source, r)
                if names:
                    print(f"  {source} {r}: {', '.join(names)}")
    print(f"cache: {store.home()}")
    return 0


def cmd_data_verify(args) -> int:
    from . import datasets, download, store, studies

    paths = [p for w in ("ratings", "audio", "features") for p in registry.files(w)]
    good, bad, absent = download.verify(paths)
    print(f"verified {len(good)} files, {len(bad)} corrupted, {len(absent)} not cached")
    for rel in bad:
        print(f"  CORRUPTED: {download.local_path(rel)} (re-run `timbre-jax data fetch` to replace it)")
    files = store.stored_files()
    problems = [(p, why) for p in files if (why := datasets.store_file_problem(p))]
    print(f"feature store: checked {len(files)} files, {len(problems)} corrupted or stale")
    for path, why in problems:
        source, r, d = store.parts(path)
        print(f"  CORRUPTED: {why} (to redo it: `{datasets.redo_command(source, r, d)}`)")
    added = studies.names()
    damaged = {name: studies.verify(name) for name in added}
    if added:
        print(f"your studies: checked {len(added)}, {sum(bool(v) for v in damaged.values())} damaged")
    for name, found in damaged.items():
        for why in found:
            print(f"  CORRUPTED: study {name}: {why} (`timbre-jax data remove {name}`, then add it again)")
    return EXIT_FAIL if bad or problems or any(damaged.values()) else 0


def cmd_data_add(args) -> int:
    from . import studies

    study = studies.add(args.name, Path(args.audio), Path(args.ratings), progress=not args.quiet)
    l = len(study.sounds)
    print(f"added study {study.name}: {l} sounds, {study.rated_pairs} of {l * (l - 1) // 2} pairs rated -> "
          f"{studies.folder(study.name)}")
    print(f"next: timbre-jax extract --representation stmf --datasets {study.name}\n"
          f"      timbre-jax evaluate --datasets {study.name} --representations stmf")
    return 0


def cmd_data_remove(args) -> int:
    from . import studies

    for path in studies.remove(args.name):
        print(f"removed {path}")
    return 0


def cmd_data_import(args) -> int:
    from . import datasets, store

    store.check_name(args.representation, "representation")
    replaced = store.feature_file(datasets.check_import_source(args.source), args.representation, args.dataset).exists()
    out = datasets.import_features(Path(args.file), args.dataset, args.representation, source=args.source,
                                 ratings_file=Path(args.ratings) if args.ratings else None)
    print(f"imported {args.file} as {args.source} {args.representation}/{args.dataset} -> {out}"
          f"{' (replaced the previous import)' if replaced else ''}")
    print(f"fit it with: timbre-jax learn --dataset {args.dataset} --representation {args.representation} "
          f"--source {args.source}")
    return 0


def cmd_data_audit(args) -> int:
    import numpy as np

    from . import audit

    out, reps, names, t0 = _start(args)
    records, matches = audit.run(reps, names, K=args.permutations, seed=args.seed, progress=not args.quiet)
    written = audit.write_outputs(records, matches, out)
    if matches:
        print("\nstft: each upstream row matched one to one to our extracted stft of the sorted audio files "
              "(Pearson r between feature vectors):")
        published = {x["dataset"]: x for x in records if (x["representation"], x["source"]) == ("stft", "upstream")}
        for d, m in matches.items():
            z = published.get(d, {}).get("zeroshot_cosine_p2")
            print(f"  {d:22s} {m.own_position:2d}/{len(m.perm)} rows at their own position, median r {m.median_r:.4f}, "
                  f"min r {m.r.min():.4f}; zero-shot cosine P^2 {z if z is None else f'{z:+.3f}'} as published, "
                  f"{m.repaired_cosine_p2:+.3f} re-paired")
            print(f"  {'':22s} upstream row i is sound: {' '.join(map(str, m.perm))}")
        own = sum(m.own_position for m in matches.values())
        print(f"  in all {own} of {sum(len(m.perm) for m in matches.values())} rows at their own position; "
              f"median over datasets of the re-paired zero-shot cosine P^2 "
              f"{np.median([m.repaired_cosine_p2 for m in matches.values()]):+.3f} (euclidean "
              f"{np.median([m.repaired_euclidean_p2 for m in matches.values()]):+.3f})")
    K = args.permutations
    print(f"\nmedians over datasets (zero-shot: signed P^2 = sign(P) P^2 of unweighted distances; EV: the exact "
          f"optimum; null: {K} relabellings, so p >= {1 / (K + 1):.3f}):")
    print(f"  {'representation':14s} {'source':9s} {'datasets':>8s} {'euclidean':>9s} {'cosine':>7s} "
          f"{'EV':>6s} {'null EV':>7s} {'p<=0.05':>7s}")
    for r, source, n, eu, cos, ev, nm, sig in audit.summary(records):
        print(f"  {r:14s} {source:9s} {n:8d} {eu:+9.3f} {cos:+7.3f} {ev:6.3f} {nm:7.3f} {f'{sig}/{n}':>7s}")
    print("\n" + textwrap.fill(audit.PROOF, width=100))
    for p in written:
        print(f"wrote {p}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


# ----------------------------------------------------------------------------- fits

def cmd_learn(args) -> int:
    from . import datasets, learn, store

    # Neither given must not mean every dataset (one metric over all 17 is rarely meant).
    names = _datasets(args.datasets or args.dataset, args.source) if (args.dataset or args.datasets) else []
    if not names or (args.dataset and args.datasets):
        raise UsageError("give --dataset D, or --datasets A,B,... for one metric across datasets")
    args.source = resolve_source(args.source, [_representation(args.representation)], names)
    for path, option in ((args.out, "--out"), (args.plot, "--plot")):
        if path:
            check_out_file(path, option)
    sets = [datasets.load(d, args.representation, args.source, progress=True) for d in names]
    features, ratings = datasets.joint_problem(sets)
    t0 = time.perf_counter()
    res = learn.learn_metric(features, ratings, solver=args.solver, init=args.init, seed=args.seed,
                             maxiter=args.maxiter, starts=args.starts)
    dt = time.perf_counter() - t0
    label = "+".join(names)
    print(f"{args.representation} on {label} ({args.solver}): explained variance {res.explained_variance:.4f} "
          f"(P = {res.pearson:.4f}), {res.iterations} iterations, {res.message}"
          f"{f', from start {res.start} of {args.starts}' if args.starts > 1 else ''} [{dt:.1f} s]")
    if res.degenerate_start:
        print("warning: the NNLS start is x = 0 (every weight equal): no non-negative combination of the "
              "features fits these ratings without an intercept, as when they are shifted below 0; the "
              "paper's solver depends on the offset of the ratings, `--solver exact` does not")
    if not res.converged:
        print(f"warning: not converged ({res.message}"
              f"{', no step was accepted: the weights are the start' if res.iterations == 0 else ''})")
    if args.solver == "lbfgsb":
        gap = learn.optimality_gap(features, ratings, res.weights)
        print(f"global optimum {res.explained_variance + gap:.4f} (gap {gap:.4f}; `--solver exact` gives it)")
    if args.out:
        meta = {"representation": args.representation, "datasets": names, "source": args.source,
                "solver": args.solver, "certified": res.certified, "pearson": res.pearson,
                "iterations": res.iterations, "message": res.message, "converged": res.converged,
                "degenerate_start": res.degenerate_start, "starts": args.starts, "start": res.start}
        print(f"weights -> {store.save_weights(Path(args.out), res.weights, res.explained_variance, meta)}")
    if args.plot:
        from .report import plot_weights
        out = plot_weights(res.weights, args.representation, Path(args.plot), title=f"{args.representation}: {label}")
        print(f"weight map -> {out}")
    return 0


def cmd_table(args) -> int:
    from . import report, table

    out, reps, names, t0 = _start(args)
    ev, optimum, skipped, fits = table.table1(reps, names, source=args.source, maxiter=args.maxiter,
                                              starts=args.starts, progress=not args.quiet, solver=args.solver,
                                              directory=out / "chunks" / "table")
    wall = time.perf_counter() - t0
    resumed = sum(f["resumed"] for f in fits)
    if resumed:
        print(f"resumed {resumed} fits saved by an earlier run in {out / 'chunks' / 'table'}")
    written = table.write_outputs(out, ev, optimum if args.solver == "lbfgsb" else None, fits, reps, names)
    print(report.markdown_table1(ev, reps, names, optimum if args.solver == "lbfgsb" else None))
    certified = sum(f["certified"] for f in fits)
    if args.solver == "lbfgsb":
        print("cells: our explained variance, L-BFGS-B (the paper's value) [the global optimum, "
              f"certified by the KKT conditions for {certified} of {len(fits)}]")
    else:
        print(f"cells: our explained variance at the global optimum (the paper's value); "
              f"{certified} of {len(fits)} certified by the KKT conditions")
    for r, d, why in skipped:
        print(f"skipped {r}/{d}: {why}")
    print(f"\n{len(ev)} fits ({args.solver}{f', {resumed} resumed' if resumed else ''}) in {wall:.1f} s; wrote "
          + ", ".join(map(str, written)))
    return 0


def _loaded(reps, names, source="upstream"):
    """(representation, feature sets) for each representation with data; says what is skipped."""
    from .datasets import load_available

    for r in reps:
        sets, skipped = load_available(r, names, source)
        for _, d, why in skipped:
            print(f"skipped {r}/{d}: {why}")
        if sets:
            yield r, sets


def cmd_robustness(args) -> int:
    from . import robustness

    out, reps, names, t0 = _start(args)
    rows = []
    for r, sets in _loaded(reps, names, args.source):
        t = time.perf_counter()
        resumed = (out / "chunks" / r / "plan.json").exists()
        rows += robustness.sweep(sets, n_levels=args.levels, realizations=args.realizations, seed=args.seed,
                                 std_scale=args.std_scale, maxiter=args.maxiter, directory=out / "chunks" / r,
                                 chunk_groups=args.chunk_groups, progress=not args.quiet, solver=args.solver)
        fits = len(sets) * args.levels * args.realizations
        dt = time.perf_counter() - t
        if resumed:  # saved chunks are read back, not solved: no rate to report
            print(f"{r}: {fits} fits, {dt:.1f} s in this run (resumed from saved chunks)")
        else:
            print(f"{r}: {fits} fits in {dt:.1f} s ({fits / dt:.2f} fits/s)")
    if "stmf" not in reps or any(("stmf", d) not in {(x.representation, x.dataset) for x in rows} for d in names):
        print("note: relative areas (dB) need stmf on the same dataset; those cells are left empty")
    for p in robustness.write_outputs(rows, out, reps, names):
        print(f"wrote {p}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_null(args) -> int:
    from . import null, report

    out, reps, names, _ = _start(args)
    rows, summaries, written = [], [], []
    for r, sets in _loaded(reps, names, args.source):
        t = time.perf_counter()
        rr, ss = null.run(sets, K=args.permutations, seed=args.seed, maxiter=args.maxiter,
                          directory=out / "chunks" / r, progress=not args.quiet, solver=args.solver)
        fits = len(rr)
        print(f"{r}: {fits} fits in {time.perf_counter() - t:.1f} s")
        rows += rr
        summaries += ss
        written.append(report.plot_null(rr, ss, r, out / f"null_{r}.png"))
    written = null.write_outputs(rows, summaries, out) + written
    for x in summaries:
        print(f"{x.representation:10s} {x.dataset:22s} observed {x.observed_ev:.3f}  null median {x.null_median:.3f}"
              f"  p95 {x.null_p95:.3f}  p = {x.p_value:.3f}")
    for p in written:
        print(f"wrote {p}")
    return 0


def cmd_crossval(args) -> int:
    from . import crossval

    out, reps, names, _ = _start(args)
    rows = []
    for r, sets in _loaded(reps, names, args.source):
        t = time.perf_counter()
        rows += crossval.run(sets, maxiter=args.maxiter, directory=out / "chunks" / r, progress=not args.quiet,
                             solver=args.solver)
        print(f"{r}: {sum(len(s.sounds) + 1 for s in sets)} fits in {time.perf_counter() - t:.1f} s")
    for x in rows:
        print(f"{x.representation:10s} {x.dataset:22s} in-sample {x.in_sample_ev:.3f}  held-out {x.heldout_ev:.3f}"
              f"  (pooled P {x.heldout_pearson:+.3f}, mean fold EV {x.fold_ev_mean:.3f})")
    for path in crossval.write_outputs(rows, out):
        print(f"wrote {path}")
    return 0


def cmd_zeroshot(args) -> int:
    from . import report, zeroshot

    out, reps, names, t0 = _start(args)
    rows = []
    for _, sets in _loaded(reps, names, args.source):
        rows += zeroshot.run(sets)
    path = report.write_csv(out / "zeroshot.csv", ["representation", "dataset", "distance", "pearson", "spearman"],
                            [list(x) for x in rows])
    print("median over datasets (no fit: all weights 1; signed P^2 = sign(P) P^2):")
    for (r, d), (p, p2, rho, n) in zeroshot.medians(rows).items():
        print(f"  {r:10s} {d:9s} P {p:+.3f}  signed P^2 {p2:+.3f}  Spearman {rho:+.3f}  ({n} datasets)")
    print(f"wrote {path} [{time.perf_counter() - t0:.1f} s]")
    return 0


def cmd_extract(args) -> int:
    try:
        import timbre_jax_extract
    except ImportError as e:
        raise UsageError("extraction needs the 'extract' extra (torch, kymatio, transformers): "
                         f"{e}") from None
    chosen = [o for o, v in (("--representation", args.representation), ("--embedder", args.embedder),
                             ("--hear", args.hear)) if v]
    if len(chosen) != 1:
        raise UsageError("give one of --representation NAME, --embedder SPEC or --hear MODULE"
                         + (f", not {' and '.join(chosen)}" if chosen else ""))
    if (args.embedder or args.hear) and not args.name:
        raise UsageError("--embedder and --hear need --name REP: the representation name its features are saved under")
    if args.name and args.representation:
        raise UsageError("--name goes with --embedder or --hear; --representation extracts under its own name")
    if args.datasets in (None, ""):
        raise UsageError("give --datasets: comma list of dataset names, or 'all'")
    names = _datasets(args.datasets)
    extractor = None
    if args.embedder or args.hear:
        from timbre_jax_extract import embedder

        name = args.name
        if name in timbre_jax_extract.EXTRACTABLE:
            raise UsageError(f"--name {name}: that is a built-in representation; name your embedder otherwise")
        extractor = (embedder.Embedder(embedder.load_function(args.embedder), name, spec=args.embedder)
                     if args.embedder else embedder.hear_embedder(args.hear, name))
    written = timbre_jax_extract.run(args.representation, names, checkpoint=args.checkpoint, device=args.device,
                                     progress=not args.quiet, extractor=extractor)
    for p in written:
        print(f"wrote {p}")
    return 0


def cmd_evaluate(args) -> int:
    from . import evaluate

    out, reps, names, t0 = _start(args)
    sets = [fs for _, group in _loaded(reps, names, args.source) for fs in group]
    if not sets:
        raise UsageError(f"no {args.source} features for any of these datasets and representations")
    rows = evaluate.run(sets, permutations=args.permutations, seed=args.seed, directory=out,
                        progress=not args.quiet)
    for line in evaluate.summary(rows):
        print(line)
    for p in evaluate.write_outputs(rows, out):
        print(f"wrote {p}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


# ----------------------------------------------------------------------------- parser

DESCRIPTION = (
    "Learn weighted Euclidean timbre metrics from human dissimilarity ratings and reproduce "
    "Pascal & Lagrange (2024). The usual order: `timbre-jax data fetch` downloads the ratings, "
    "audio and the paper's precomputed features (sha256-verified; `table` and `learn` also fetch "
    "the features they lack); `table` fits one metric per dataset and representation (the paper's "
    "Table I) and `learn` fits one; `robustness` (rater-noise sweep), `null` (permutation test) "
    "and `crossval` (leave-one-sound-out) then test the metrics. Commands that write a folder "
    "(--out) resume an interrupted run when given the same folder. Files are cached under "
    "$TIMBRE_JAX_HOME (default ~/.cache/timbre-jax); `timbre-jax data list` shows what is there."
)
QUIET_HELP = "no progress bars (before or after the subcommand)"
STARTS_HELP = "solve from this many starts (the first, then log-normal perturbations of it) and keep the best"
SOLVER_HELP = ("lbfgsb: the paper's L-BFGS-B fit (default); exact: the certified global optimum "
               "(a non-negative least squares, milliseconds per fit)")
REPS_HELP = "comma list of representations, or 'all' (default); names below"
DATASETS_HELP = "comma list of datasets, or 'all' (default); names below"
SOURCE_HELP = ("features to fit: upstream (the paper's published features), extracted (computed by `timbre-jax "
               "extract`), a source made by `timbre-jax data import --source`, or auto (default: upstream for the "
               "built-in datasets in the paper's 8 representations, extracted for your own studies and embedders)")
MAXITER_HELP = f"L-BFGS-B iteration limit per fit (default {DEFAULT.maxiter}; the exact solver ignores it)"
OUT_DIR_HELP = ("output folder (created); re-running with the same folder resumes from the fits saved "
                "under OUT/chunks")


def _positive(value: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: give at least 1")
    return n


def _options(*groups: str) -> argparse.ArgumentParser:
    """A parent parser with the options several subcommands share, one definition each:
    ``names`` (--representations, --datasets), ``source``, ``fit`` (--maxiter, --solver),
    ``starts``, ``sweep-out`` (the --out of a resumable per-representation sweep)."""
    p = argparse.ArgumentParser(add_help=False)
    if "names" in groups:
        p.add_argument("--representations", default="all", help=REPS_HELP)
        p.add_argument("--datasets", default="all", help=DATASETS_HELP)
    if "source" in groups:
        p.add_argument("--source", default="auto", type=_source, help=SOURCE_HELP)
    if "fit" in groups:
        p.add_argument("--maxiter", type=_positive, default=DEFAULT.maxiter, help=MAXITER_HELP)
        p.add_argument("--solver", default="lbfgsb", choices=("lbfgsb", "exact"), help=SOLVER_HELP)
    if "starts" in groups:
        p.add_argument("--starts", type=_positive, default=1, help=STARTS_HELP)
    if "sweep-out" in groups:
        p.add_argument("--out", required=True, help=OUT_DIR_HELP + "/<representation> (a different run is refused)")
    return p


def version() -> str:
    """The installed distribution's version, else the package's own (a source checkout)."""
    from importlib import metadata

    try:
        return metadata.version("timbre-jax")
    except metadata.PackageNotFoundError:
        from . import __version__

        return __version__


def _names_epilog() -> str:
    """The dataset and representation names, for the help of subcommands that take them."""
    from . import studies

    lists = [("datasets", registry.DATASETS), ("your studies", studies.names() or ["none (`timbre-jax data add`)"]),
             ("representations", _known_representations())]
    return "\n".join(textwrap.fill(", ".join(names), width=88, initial_indent=f"{what}: ", subsequent_indent="  ")
                     for what, names in lists)


def _finish(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand ``--quiet`` and, where it takes dataset or representation
    names, an epilog listing them.

    The subcommands' ``--quiet`` defaults to SUPPRESS, so that when absent it does not
    overwrite one given before the subcommand: either position works."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in action.choices.values():
            sub.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
            if {a.dest for a in sub._actions} & {"dataset", "datasets", "representation", "representations"}:
                sub.epilog = _names_epilog()
                sub.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the epilog's lines
            _finish(sub)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="timbre-jax", description=DESCRIPTION)
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.add_argument("--version", action="version", version=f"timbre-jax {version()}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="fetch, list, verify and import upstream files")
    dsub = data.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download ratings, audio and precomputed features (sha256-verified)")
    f.add_argument("--what", default="ratings,audio,features", help="comma list of ratings,audio,features")
    f.add_argument("--representation", "--representations", default="all", help="comma list (default all)")
    f.add_argument("--mirror", default=None, help="base URL or folder instead of https://raw.githubusercontent.com "
                   "(also $TIMBRE_JAX_MIRROR), e.g. file:///path/to/timbre-data or /path/to/timbre-data; "
                   "remembered for later commands")
    f.set_defaults(func=cmd_data_fetch)
    ls = dsub.add_parser("list", help="what is cached and what is missing")
    ls.add_argument("--representation", "--representations", default="all", help=REPS_HELP)
    ls.set_defaults(func=cmd_data_list)
    v = dsub.add_parser("verify", help="re-hash every cached file")
    v.set_defaults(func=cmd_data_verify)
    im = dsub.add_parser("import", help="import features computed elsewhere (.pkl read safely, .npy, .npz, .csv)")
    im.add_argument("file", help="the features: an upstream-layout pickle (dict with 'representations', n_features x "
                    "l_sounds), a .npy (l_sounds x n_features, rows in sound order), a .npz ('features' and optional "
                    "'sounds') or a .csv (sound name, then the features, one row per sound); any number of features")
    im.add_argument("--dataset", required=True, help="the dataset whose sounds it describes: built-in (below), "
                    "added with `data add`, or a new name")
    im.add_argument("--representation", required=True, help="the name to store it under (any plain name)")
    im.add_argument("--source", default="imported",
                    help="store the features under this source name (default imported; never upstream or extracted)")
    im.add_argument("--ratings", help="for a new dataset name only: its ratings (the formats of `data add "
                    "--ratings`, in the order of the file's rows); default: the pickle's 'dissimilarities'")
    im.set_defaults(func=cmd_data_import)
    ad = dsub.add_parser("add", help="add your own study: a folder of sounds and a ratings file (copied to the cache)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ad.add_argument("name", help="the study's name (letters, digits, '_', '.', '+', '-'; not a built-in dataset)")
    ad.add_argument("--audio", required=True, help="folder of audio files (wav, aiff, flac, ogg, ...); each file's "
                    "stem is a sound name")
    ad.add_argument("--ratings", required=True, help="dissimilarities in [0, 1]: a whitespace matrix (.txt) in the "
                    "sorted order of the file names (full symmetric or upper-triangular; diagonal ignored; nan = "
                    "unrated), a labelled square .csv (sound names in the first row and column), or a long .csv "
                    "with the header sound_a,sound_b,dissimilarity")
    ad.set_defaults(func=cmd_data_add)
    rm = dsub.add_parser("remove", help="remove a study added with `data add`, and every feature file made for it")
    rm.add_argument("name", help="the study's name")
    rm.set_defaults(func=cmd_data_remove)
    au = dsub.add_parser("audit", parents=[_options("names")],
                         help="evidence that each upstream representation's rows are paired with the right sounds "
                         "(stft row matching, zero-shot alignment, permutation null)")
    au.add_argument("--permutations", type=_positive, default=100,
                    help="relabellings per dataset of the exact permutation null (default 100)")
    au.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    au.add_argument("--out", required=True, help="output folder (created); writes OUT/audit.csv and, with "
                    "extracted stft in the store, OUT/stft_matching.csv")
    au.set_defaults(func=cmd_data_audit)

    names, source, fit = _options("names"), _options("source"), _options("fit")
    starts, sweep_out = _options("starts"), _options("sweep-out")

    le = sub.add_parser("learn", parents=[source, fit, starts],
                        help="learn one metric and print its explained variance")
    le.add_argument("--dataset", help="the dataset to fit (names below)")
    le.add_argument("--datasets", help="comma list: one metric across datasets (cross pairs unrated)")
    le.add_argument("--representation", required=True,
                    help="the features to weigh (names below, or one you extracted or imported)")
    le.add_argument("--init", default="nnls", choices=("nnls", "random"),
                    help="L-BFGS-B start: nnls (the paper's warm start, default) or random (Thoret et al. 2021)")
    le.add_argument("--seed", type=int, default=0, help="seed of the random start and of extra --starts (default 0)")
    le.add_argument("--out", help="save weights to this .npz")
    le.add_argument("--plot", help="draw the learned 1/w^2 to this PNG")
    le.set_defaults(func=cmd_learn)

    t = sub.add_parser("table", parents=[names, source, fit, starts],
                       help="Table I: explained variance for every dataset x representation")
    t.add_argument("--out", required=True, help=OUT_DIR_HELP + "/table (fits of other settings are kept apart)")
    t.set_defaults(func=cmd_table)

    zs = sub.add_parser("zeroshot", parents=[names],
                        help="no fit: correlate unweighted feature distances with the ratings")
    zs.add_argument("--source", default="auto", type=_source, help=SOURCE_HELP.replace("to fit", "to compare"))
    zs.add_argument("--out", required=True, help="output folder (created); writes OUT/zeroshot.csv")
    zs.set_defaults(func=cmd_zeroshot)

    ex = sub.add_parser("extract", help="compute a representation from the audio (needs the extract extra)")
    ex.add_argument("--representation", help="a built-in representation to compute (names below, and crepe)")
    ex.add_argument("--embedder", metavar="SPEC", help="your own embedder: package.module:function or "
                    "path/to/file.py:function, called as function(audio float32 (samples,), sample_rate) -> "
                    "(dims,) or (frames, dims); audio at the file's rate unless function.sample_rate is set")
    ex.add_argument("--hear", metavar="MODULE", help="a HEAR-API package (load_model, get_scene_embeddings)")
    ex.add_argument("--name", help="with --embedder or --hear: the representation name to save the features under")
    ex.add_argument("--datasets", "--dataset", dest="datasets", default="all", help=DATASETS_HELP)
    ex.add_argument("--checkpoint", default=None, help="local checkpoint (deep models); 'random-init' for tests")
    ex.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where torch runs (default cpu)")
    ex.set_defaults(func=cmd_extract)

    ro = sub.add_parser("robustness", parents=[names, source, fit, sweep_out],
                        help="noise sweep: refit on degraded ratings, score on human ratings")
    ro.add_argument("--levels", type=_positive, default=9, help="number of levels delta in logspace(-1, 1)")
    ro.add_argument("--realizations", type=_positive, default=5, help="noise draws per level (default 5)")
    ro.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    ro.add_argument("--std-scale", action="store_true", help="scale the noise by std(s) (upstream notebook)")
    ro.add_argument("--chunk-groups", type=_positive, default=None,
                    help="datasets per batched solve (default: fit memory)")
    ro.set_defaults(func=cmd_robustness)

    nu = sub.add_parser("null", parents=[names, source, fit, sweep_out],
                        help="permutation null: refit on randomly relabelled sounds")
    nu.add_argument("--permutations", type=_positive, default=100, help="relabellings per dataset (default 100)")
    nu.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    nu.set_defaults(func=cmd_null)

    cv = sub.add_parser("crossval", parents=[names, source, fit, sweep_out],
                        help="leave-one-sound-out cross-validation")
    cv.set_defaults(func=cmd_crossval)

    ev = sub.add_parser("evaluate", parents=[names, source],
                        help="one honest row per dataset x representation: the exact optimum beside its permutation "
                        "null, its held-out value and the zero-shot alignment")
    ev.add_argument("--permutations", type=_positive, default=100, help="relabellings per dataset (default 100)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    ev.add_argument("--out", default="results-evaluate",
                    help="output folder (created; default results-evaluate); writes OUT/evaluate.csv")
    ev.set_defaults(func=cmd_evaluate)

    _finish(p)
    return p


def _exit_now(code: int) -> None:
    """End the process with ``code`` at once: flush stdout and stderr, then ``os._exit``.

    Ctrl-C during an XLA compilation surfaces as KeyboardInterrupt in the main thread
    while XLA's compiler thread keeps running; the interpreter's normal shutdown then
    tears the runtime down under it and the process dies of SIGSEGV (exit 139).
    Skipping that shutdown loses nothing: every file is written atomically, and a
    partial one was already removed as the exception passed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more to say
            pass
    os._exit(code)


def _keep_compiled_programs() -> None:
    """Keep XLA's compiled programs under ``$TIMBRE_JAX_HOME/xla-cache`` (JAX's persistent
    compilation cache), so that only the first process to fit a shape compiles it.

    Why: a new number of features costs 40–100 s of compilation on a CPU, every run.
    Where the user set ``JAX_COMPILATION_CACHE_DIR``, that is kept;
    ``JAX_ENABLE_COMPILATION_CACHE=false`` turns the cache off (JAX's own switches)."""
    import jax

    from .store import home

    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(home() / "xla-cache"))


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    Run as the program (``argv`` None) an interrupt ends the process with status 130 on
    the spot (see :func:`_exit_now`), and compiled programs are kept for the next run
    (:func:`_keep_compiled_programs`); called with ``argv`` from Python it returns 130
    and leaves JAX's configuration alone."""
    args = build_parser().parse_args(argv)
    if argv is None:
        _keep_compiled_programs()
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except TimbreJaxError as e:  # anything else is a bug: its traceback is wanted
        print(f"timbre-jax: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:  # the reader went away (`timbre-jax data list | head`): stop quietly
        sys.stdout = open(os.devnull, "w")  # so that the interpreter's final flush cannot fail again
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("timbre-jax: interrupted", file=sys.stderr)
        if argv is None:
            _exit_now(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
