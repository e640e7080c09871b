"""The ``data`` subcommands: fetch, list, verify, add, remove and import the files the
fits read.  Each prints what it did and returns the exit status."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.cli import names
from timbre_jax.cli.commands import warn, writes
from timbre_jax.cli.exits import EXIT_FAIL
from timbre_jax.data import datasets, download, imported, registry, store, studies, upstream
from timbre_jax.data.rating_cells import Scale, parse_columns


def _representations(args) -> list[str]:
    """--representation(s) of fetch and list: the paper's names, 'all', never an empty list."""
    option = names.option_of(args, "representation", "--representation")
    return registry.parse_list(names.given(args.representation, option), registry.REPRESENTATIONS,
                               "representation(s)")


@writes("the verified upstream files under $TIMBRE_JAX_HOME/upstream/, the feature store files built "
        "from them under $TIMBRE_JAX_HOME/features/upstream/<representation>/<dataset>.npz, and the "
        "mirror in $TIMBRE_JAX_HOME/mirror.txt; no --out")
def cmd_data_fetch(args) -> int:
    what = registry.parse_list(names.given(args.what, "--what"), ("ratings", "audio", "features"),
                               "kind(s) of file")
    reps = _representations(args)
    paths = [p for w in what for p in registry.files(w, reps)]
    if args.mirror:  # a mistyped mirror is an error even when everything is cached
        download.check_mirror(download.mirror(args.mirror))
    report = download.fetch(paths, mirror_url=args.mirror, progress=not args.quiet)
    extra = [d for d in registry.BENCHMARK if d not in registry.PAPER]
    print(f"{len(registry.DATASETS)} built-in datasets: the paper's {len(registry.PAPER)} (ratings, audio, published "
          f"features) and the benchmark's {len(extra)} ({', '.join(extra)}: ratings and audio; no published features)")
    print(f"fetched {len(report.fetched)}, already verified {len(report.skipped)}, "
          f"missing upstream {len(report.missing)}, failed {len(report.failed)}")
    for rel in report.missing:
        print(f"  missing upstream: {rel}")
    for _, msg in report.failed:
        print(f"  FAILED: {msg}")
    # Upstream store files are derived from the downloads: rebuild damaged or stale ones.
    rebuilt, unrepaired = upstream.repair_upstream_store(mirror_url=args.mirror, progress=not args.quiet)
    for path in rebuilt:
        print(f"  rebuilt store file {path}")
    for _, msg in unrepaired:
        print(f"  FAILED: {msg}")
    return EXIT_FAIL if report.failed or unrepaired else 0


def _study_line(name: str) -> str:
    """One added study: its sounds, rated pairs and the features stored for it."""
    study = studies.load(name)
    feats = [f"{src} {r}" for src in store.stored_sources() for r in store.stored_representations(src)
             if store.feature_file(src, r, name).exists()]
    return (f"  {name}: {len(study.sounds)} sounds, {study.rated_pairs} rated pairs; features: "
            f"{', '.join(feats) or 'none yet (`timbre-jax extract --representation R --datasets ' + name + '`)'}")


def _missing_line(missing: list[str], representations) -> str:
    """The missing upstream features ("representation/dataset" each) in one line, counted
    per representation."""
    counts = {r: sum(m.split("/", 1)[0] == r for m in missing) for r in representations}
    per = ", ".join(f"{r}: {n} dataset{'s' if n > 1 else ''}" for r, n in counts.items() if n)
    return (f"missing upstream features: {len(missing)} file{'s' if len(missing) > 1 else ''} ({per}); "
            "fetch them with `timbre-jax data fetch` (it names those upstream lacks)")


@writes("nothing: it prints what the cache holds")
def cmd_data_list(args) -> int:
    reps = _representations(args)
    added = studies.names()
    if added:
        print("your studies (`timbre-jax data add`):")
        for name in added:
            print(_study_line(name))
    else:
        print("your studies: none (add one with `timbre-jax data add NAME --audio DIR --ratings FILE`)")
    print("\nbuilt-in datasets:")
    header, rows, missing = upstream.inventory(reps)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    for r in reps:
        n = sum(row[header.index(r)] == "yes" for row in rows)
        print(f"{r}: features for {n}/{len(registry.PAPER)} datasets (\"-\": the benchmark's, none published)")
    if missing:
        print(_missing_line(missing, reps))
    others = [s for s in store.stored_sources() if s != "upstream"]
    if others:
        print("\nother sources (use with --source NAME):")
        for source in others:
            for r in store.stored_representations(source):
                stored = store.stored_datasets(source, r)
                if stored:
                    print(f"  {source} {r}: {', '.join(stored)}")
    print(f"cache: {store.home()}")
    return 0


@writes("nothing: it re-hashes the cached files and prints which are damaged (exit status 1 if any)")
def cmd_data_verify(args) -> int:
    paths = [p for w in ("ratings", "audio", "features") for p in registry.files(w)]
    good, bad, absent = download.verify(paths)
    print(f"verified {len(good)} files, {len(bad)} corrupted, {len(absent)} not cached")
    for rel in bad:
        print(f"  CORRUPTED: {download.local_path(rel)} (re-run `timbre-jax data fetch` to replace it)")
    files = store.stored_files()
    problems = [(p, why) for p in files if (why := upstream.store_file_problem(p))]
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


def _participants_line(study: studies.Study) -> str:
    """An added study's participants in one line: judgements, repeats, self-comparisons
    (their mean, the floor) and unrated pairs."""
    p, l = study.participants, len(study.sounds)
    i, j = np.triu_indices(l, 1)
    pairs, selves = int(p.counts[:, i, j].sum()), int(np.trace(p.counts, axis1=1, axis2=2).sum())
    parts = [f"{p.m} participant{'s' if p.m > 1 else ''}, {pairs + selves} judgements"]
    if len(p.retest):
        parts.append(f"{len(p.retest)} repeated pairs (averaged within each participant)")
    if selves:
        parts.append(f"{selves} self-comparisons (left out of the fits; their mean {p.floor:.3f} is the floor)")
    parts.append(f"unrated pairs (rated by nobody): {int(np.isnan(study.ratings[i, j]).sum())} of {len(i)}")
    return "; ".join(parts)


@writes("$TIMBRE_JAX_HOME/studies/NAME/: a copy of the audio files (less those of --exclude) and of the ratings "
        "(ratings/ for a folder), and study.json (the sounds and every file's sha256, how the ratings were read, "
        "the mean ratings and each participant's); no --out")
def cmd_data_add(args) -> int:
    scale = Scale.parse(args.scale, args.similarity)
    study = studies.add(args.name, Path(args.audio), Path(args.ratings), scale=scale,
                        average_orders=args.average_orders, exclude=args.exclude or (),
                        columns=parse_columns(args.columns), progress=not args.quiet)
    reading = study.reading
    for line in reading["warnings"]:
        warn(line)
    columns = f"; columns {reading['columns']}" if reading["columns"] else ""
    print(f"read {args.ratings}: {reading['layout']}{columns}; {scale.describe()}"
          + (f"; left out: {', '.join(reading['exclude'])}" if reading["exclude"] else ""))
    l = len(study.sounds)
    print(f"added study {study.name}: {l} sounds, {study.rated_pairs} of {l * (l - 1) // 2} pairs rated -> "
          f"{studies.folder(study.name)}")
    if study.participants is not None:
        print(_participants_line(study))
    print(f"next: timbre-jax extract --representation stmf --datasets {study.name}\n"
          f"      timbre-jax evaluate --datasets {study.name} --representations stmf --out results-{study.name}"
          + (f"\n      timbre-jax reliability --datasets {study.name} --out reliability-{study.name}"
             if study.participants is not None and study.participants.m > 1 else ""))
    return 0


@writes("nothing: it deletes $TIMBRE_JAX_HOME/studies/NAME/ and every feature file made for it")
def cmd_data_remove(args) -> int:
    for path in studies.remove(args.name):
        print(f"removed {path}")
    return 0


@writes("$TIMBRE_JAX_HOME/features/<source>/<representation>/<dataset>.npz (replacing an earlier "
        "import of the same names); no --out")
def cmd_data_import(args) -> int:
    store.check_name(args.representation, "representation")
    if args.dataset not in registry.DATASETS and not studies.is_added(args.dataset):
        studies.check_distinct(args.dataset)  # a new name: not a built-in one or a study in other case
    replaced = store.feature_file(imported.check_import_source(args.source), args.representation, args.dataset).exists()
    out = imported.import_features(Path(args.file), args.dataset, args.representation, source=args.source,
                                 ratings_file=Path(args.ratings) if args.ratings else None)
    print(f"imported {args.file} as {args.source} {args.representation}/{args.dataset} -> {out}"
          f"{' (replaced the previous import)' if replaced else ''}")
    print(f"fit it with: timbre-jax learn --dataset {args.dataset} --representation {args.representation} "
          f"--source {args.source}")
    return 0
