"""The defaults a new user meets: the certified solver for every fit unless the paper's
L-BFGS-B is named, and the same feature source (``auto``) in Python as at the command
line, so that a study you added loads and fits without naming either."""

from __future__ import annotations

import numpy as np
import pytest
from test_studies import EMBEDDER, ratings_matrix, tones, write_matrix

from conftest import needs_mirror
from timbre_jax import cli, learn_metric
from timbre_jax.analyses import base, null, single, table
from timbre_jax.cli import commands
from timbre_jax.cli.parser import build_parser
from timbre_jax.data import datasets, studies
from timbre_jax.errors import MissingFeatures, UsageError
from timbre_jax.solvers import Exact, Lbfgsb

FITS = {
    "learn": ["learn", "--dataset", "Grey1977", "--representation", "encodec"],
    "table": ["table", "--out", "out"],
    "robustness": ["robustness", "--out", "out"],
    "raters": ["raters", "--out", "out"],
    "null": ["null", "--out", "out"],
    "crossval": ["crossval", "--out", "out"],
}


@pytest.mark.parametrize("command", FITS)
def test_every_fitting_command_uses_the_exact_solver_unless_lbfgsb_is_named(command):
    parse = build_parser().parse_args
    assert commands.solver_of(parse(FITS[command])) == Exact()
    paper = parse([*FITS[command], "--solver", "lbfgsb", "--maxiter", "7"])
    assert commands.solver_of(paper) == Lbfgsb(maxiter=7)


def test_the_library_fits_with_the_exact_solver_unless_told_otherwise():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(9, 4))
    ratings = ratings_matrix(9, seed=3)
    res = learn_metric(F, ratings)
    assert (res.solver, res.certified) == ("exact", True)
    assert res.weights.tobytes() == learn_metric(F, ratings, solver=Exact()).weights.tobytes()
    assert learn_metric(F, ratings, solver=Lbfgsb()).solver == "lbfgsb"
    assert base.default_solver(None) == Exact() and base.default_solver(Lbfgsb()) == Lbfgsb()


@needs_mirror
def test_a_built_in_dataset_loads_the_published_features_by_default():
    assert datasets.load("Grey1977", "encodec").source == "upstream"


def test_an_added_study_loads_and_fits_in_python_without_naming_a_source_or_solver(tmp_path, fresh_home, capsys):
    names = [f"s{k}" for k in range(7)]
    tones(tmp_path / "audio", names)
    studies.add("Mine", tmp_path / "audio", write_matrix(tmp_path / "ratings.txt", ratings_matrix(len(names))))
    # As the API said before its default became auto: the paper published nothing for it.
    with pytest.raises(MissingFeatures) as e:
        datasets.load("Mine", "bands", "upstream")
    assert 'source "extracted"' in str(e.value) and "--source" not in str(e.value)

    (tmp_path / "bands.py").write_text(EMBEDDER)
    spec = f"{tmp_path / 'bands.py'}:band_energies"
    assert cli.main(["--quiet", "extract", "--embedder", spec, "--name", "bands", "--datasets", "Mine"]) == 0
    capsys.readouterr()

    fs = datasets.load("Mine", "bands")
    assert fs.source == "extracted" and fs.features.shape == (7, 8)
    result = single.run("bands", ["Mine"], progress=False)
    assert (result.solver, result.source, result.fit.certified) == ("exact", "extracted", True)
    assert result.fit.weights.tobytes() == learn_metric(fs.features, fs.ratings, solver=Exact()).weights.tobytes()
    tab = table.run(["bands"], ["Mine"], progress=False)
    assert tab.solver == "exact" and tab.skipped == []
    assert tab.ev[("bands", "Mine")] == pytest.approx(result.fit.explained_variance, abs=1e-12)
    relabelled = null.run(["bands"], ["Mine"], permutations=3, progress=False)
    assert (relabelled.solver, relabelled.source, relabelled.skipped) == ("exact", "extracted", [])


def test_an_unknown_name_is_a_usage_error_that_says_how_to_get_features(fresh_home):
    with pytest.raises(UsageError, match="unknown dataset 'Nobody2024': neither a built-in dataset nor a study "
                                         "you added") as e:
        datasets.load("Nobody2024", "bands")
    assert "--" not in str(e.value)
