"""Named dimensions: a feature file's header, an extractor's names and the per-study
standardization of dimensions in different units, read back as ``FeatureSet.dimension_names``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from timbre_jax import cli
from timbre_jax.data import datasets, store
from timbre_jax.errors import DataError
from timbre_jax_extract import pipeline
from timbre_jax_extract.base import Extractor

SOUNDS = ("a1", "b2", "c3", "d4")


def run_cli(capsys, *argv):
    code = cli.main([*argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _ratings(path):
    rng = np.random.default_rng(3)
    r = rng.uniform(0.1, 0.9, (4, 4))
    r = np.triu(r, 1) + np.triu(r, 1).T
    path.write_text("," + ",".join(SOUNDS) + "\n" + "".join(
        s + "," + ",".join(f"{x:.3f}" for x in row) + "\n" for s, row in zip(SOUNDS, r)))
    return path


def test_a_csv_header_names_the_dimensions_and_no_header_leaves_none(tmp_path, fresh_home, capsys):
    ratings = _ratings(tmp_path / "ratings.csv")
    named = tmp_path / "named.csv"
    named.write_text("sound,centroid (Hz),attack\n" + "".join(f"{s},{100 * k + 7},{k * k}\n"
                                                             for k, s in enumerate(SOUNDS)))
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(f"{s},{100 * k + 7},{k * k}\n" for k, s in enumerate(SOUNDS)))
    for rep, path in (("named", named), ("plain", plain)):
        code, _, err = run_cli(capsys, "data", "import", str(path), "--dataset", "Mine", "--representation", rep,
                               "--ratings", str(ratings))
        assert code == 0, err
    fs = datasets.load("Mine", "named", "imported")
    assert fs.dimension_names == ("centroid (Hz)", "attack")
    assert fs.dimension_units is None
    np.testing.assert_array_equal(fs.features, [[100 * k + 7, k * k] for k in range(4)])
    assert datasets.load("Mine", "plain", "imported").dimension_names is None


def test_an_npz_may_name_its_dimensions(tmp_path, fresh_home, capsys):
    ratings = _ratings(tmp_path / "ratings.csv")
    path = tmp_path / "f.npz"
    np.savez(path, features=np.arange(12.0).reshape(4, 3) ** 2, sounds=np.array(SOUNDS),
             dimension_names=np.array(["x", "y", "z"]))
    code, _, err = run_cli(capsys, "data", "import", str(path), "--dataset", "Mine", "--representation", "r",
                           "--ratings", str(ratings))
    assert code == 0, err
    assert datasets.load("Mine", "r", "imported").dimension_names == ("x", "y", "z")


@pytest.mark.parametrize("header, message", [
    ("sound,x,x", "feature name 'x' appears twice"),
    ("sound,x, ", "feature column 2 has an empty name"),
])
def test_a_bad_header_is_one_line_naming_the_file(tmp_path, fresh_home, capsys, header, message):
    ratings = _ratings(tmp_path / "ratings.csv")
    path = tmp_path / "bad.csv"
    path.write_text(header + "\n" + "".join(f"{s},{k},{k * k}\n" for k, s in enumerate(SOUNDS)))
    code, _, err = run_cli(capsys, "data", "import", str(path), "--dataset", "Mine", "--representation", "r",
                           "--ratings", str(ratings))
    assert code == 1
    assert err == f"timbre-jax: error: {path}: {message}\n"
    assert not (fresh_home / "features").exists()


def test_a_store_file_naming_another_count_is_refused(tmp_path, fresh_home):
    ratings = np.full((4, 4), 0.5)
    np.fill_diagonal(ratings, np.nan)
    ratings[0, 1] = ratings[1, 0] = 0.2
    path = store.feature_file("imported", "r", "Mine")
    meta = {"source": "imported", "dimension_names": ["only one"]}
    store.save(path, store.StoredFeatures(np.arange(8.0).reshape(4, 2) ** 2, SOUNDS, ratings, meta))
    with pytest.raises(DataError, match=r"Mine/r: its store file names 1 dimensions for 2 features"):
        datasets.load("Mine", "r", "imported")
    meta["dimension_names"] = ["a", "b"]
    store.save(path, store.StoredFeatures(np.arange(8.0).reshape(4, 2) ** 2, SOUNDS, ratings, meta))
    assert json.loads(json.dumps(datasets.load("Mine", "r", "imported").dimension_names)) == ["a", "b"]


def test_standardization_is_a_per_study_z_score_and_a_constant_dimension_is_zero():
    raw = np.array([[440.0, 0.01, 3.0], [880.0, 0.02, 3.0], [1320.0, 0.06, 3.0]])
    z, mean, sd = pipeline.standardize_features(raw)
    for k in range(2):  # by hand: (x - mean) / population standard deviation
        m = sum(raw[:, k]) / 3
        s = (sum((raw[:, k] - m) ** 2) / 3) ** 0.5
        np.testing.assert_allclose(z[:, k], (raw[:, k] - m) / s, rtol=1e-14)
        assert mean[k] == pytest.approx(m) and sd[k] == pytest.approx(s)
    assert (z[:, 2] == 0).all() and sd[2] == 0 and mean[2] == 3.0


def test_an_extractors_names_go_to_the_metadata_and_a_wrong_count_is_an_error():
    class Named(Extractor):
        name = "named"
        dimension_names = ("brightness", "attack")
        dimension_units = ("Hz", "s")

    assert pipeline.named_dimensions(Named(), 2) == {"dimension_names": ["brightness", "attack"],
                                                     "dimension_units": ["Hz", "s"]}
    assert pipeline.named_dimensions(Extractor(), 5) == {}
    with pytest.raises(DataError, match="named: 2 dimension names .2 distinct. for 3 dimensions"):
        pipeline.named_dimensions(Named(), 3)
