"""Ratings files of a listening test (rating_files): three formats, one (l, l) matrix in the order of the sounds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from timbre_jax.data.rating_files import read_matrix, read_ratings
from timbre_jax.errors import DataError

STUDIES = Path(__file__).resolve().parents[1].parent / "shared" / "studies"
SOUNDS = ("Sim01_BCL", "Sim02_BSN", "Sim03_FLT", "Sim04_HRN", "Sim05_OBO")
nan = np.nan
# Hand-built ratings of SOUNDS: (Sim01_BCL, Sim04_HRN) and (Sim03_FLT, Sim05_OBO) unrated, a pair rated 0, one 1.
EXPECTED = np.array([
    [nan, 0.1, 0.25, nan, 0.5],
    [0.1, nan, 0.75, 0.3, 0.0],
    [0.25, 0.75, nan, 1.0, nan],
    [nan, 0.3, 1.0, nan, 0.45],
    [0.5, 0.0, nan, 0.45, nan],
])


def cell(x) -> str:
    """A CSV cell as pandas writes it: empty for NaN, the shortest exact repr for a number; text kept as is."""
    if isinstance(x, str):
        return x
    return "" if np.isnan(x) else repr(float(x))


def text_of(m: np.ndarray, diagonal=0.016) -> str:
    """Whitespace matrix (l rows of l cells) of ``m`` (l, l), self-pair ratings ``diagonal`` (scalar or (l,)) on
    its diagonal."""
    m = np.array(m, dtype=object)
    for k, d in enumerate(np.broadcast_to(diagonal, (len(m),))):
        m[k, k] = d
    return "".join(" ".join(x if isinstance(x, str) else repr(float(x)) for x in row) + "\n" for row in m)


def labelled_of(m: np.ndarray, names, order=None, diagonal=nan) -> str:
    """Labelled square CSV of ``m`` (l, l) over ``names`` (l,), rows and columns in ``order`` (default: as given)."""
    order = range(len(names)) if order is None else order
    lines = ["," + ",".join(names[j] for j in order)]
    lines += [names[i] + "," + ",".join(cell(diagonal if i == j else m[i, j]) for j in order) for i in order]
    return "\n".join(lines) + "\n"


def long_of(m: np.ndarray, names) -> str:
    """Long CSV of the rated pairs i < j of ``m`` (l, l): unrated pairs are absent."""
    rows = [f"{names[i]},{names[j]},{cell(m[i, j])}" for i, j in zip(*np.triu_indices(len(m), 1))
            if not np.isnan(m[i, j])]
    return "\n".join(["sound_a,sound_b,dissimilarity", *rows]) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- the three formats

def test_a_text_matrix_full_or_upper_triangular_gives_the_hand_built_matrix(tmp_path):
    # the diagonal holds self-pair ratings, ignored whatever they are (published files hold e.g. 0.016)
    diagonal = np.array([0.016, -3.0, 7.0, np.inf, nan])
    full = write(tmp_path / "full.txt", "# ratings of five sounds\n" + text_of(EXPECTED, diagonal))
    upper = write(tmp_path / "upper.txt", text_of(np.triu(EXPECTED, 1), diagonal))  # NaN kept above, zeros below
    for path in (full, upper):
        np.testing.assert_array_equal(read_ratings(path, SOUNDS), EXPECTED)
        np.testing.assert_array_equal(read_matrix(path, 5), EXPECTED)
        np.testing.assert_array_equal(read_matrix(path), EXPECTED)


def test_a_labelled_csv_gives_the_hand_built_matrix(tmp_path):
    # to_csv layout: empty first cell, empty cells for NaN; self pairs ignored even when not a number
    path = write(tmp_path / "r.csv", labelled_of(EXPECTED, SOUNDS, diagonal="x"))
    assert path.read_text().splitlines()[1] == "Sim01_BCL,x,0.1,0.25,,0.5"
    np.testing.assert_array_equal(read_ratings(path, SOUNDS), EXPECTED)
    # an upper triangle with zeros below and "nan" for unrated pairs, BOM and CRLF of a spreadsheet
    m = np.where(np.isnan(EXPECTED), "nan", EXPECTED.astype(str)).astype(object)
    m[np.tril_indices(5, -1)] = "0"
    upper = tmp_path / "upper.csv"
    upper.write_bytes(b"\xef\xbb\xbf" + labelled_of(m, SOUNDS, diagonal="0.016").replace("\n", "\r\n").encode())
    np.testing.assert_array_equal(read_ratings(upper, SOUNDS), EXPECTED)


def test_a_long_csv_gives_the_hand_built_matrix(tmp_path):
    text = "\ufeff sound_a , sound_b ,dissimilarity \n" + "\n".join([
        "Sim02_BSN,Sim01_BCL,0.1",      # either order
        "Sim01_BCL,Sim03_FLT,0.25",
        "Sim01_BCL,Sim05_OBO,0.5",
        "Sim02_BSN,Sim03_FLT,0.75",
        "Sim02_BSN,Sim04_HRN,0.3",
        "Sim02_BSN,Sim05_OBO,0",
        "Sim03_FLT,Sim04_HRN,1",
        "Sim04_HRN,Sim05_OBO,0.45",
        "",                              # a blank line is skipped
        "Sim03_FLT,Sim05_OBO,",          # empty: unrated
        "Sim05_OBO,Sim03_FLT,nan",       # the same pair again, unrated again: fine
        "Sim04_HRN,Sim03_FLT,1.0",       # the same pair again with the same value: fine
        "Sim05_OBO,Sim05_OBO,abc",       # self pair: ignored, whatever it holds
    ]) + "\n"                            # (Sim01_BCL, Sim04_HRN) absent: unrated
    path = write(tmp_path / "long.csv", text)
    np.testing.assert_array_equal(read_ratings(path, SOUNDS), EXPECTED)


@pytest.mark.parametrize("seed", range(4))
def test_the_three_formats_of_the_same_ratings_give_identical_matrices(tmp_path, seed):
    rng = np.random.default_rng(seed)
    l = 7
    names = tuple(f"s{k:02d}_{chr(97 + k)}" for k in range(l))
    upper = np.triu(rng.random((l, l)), 1)
    upper[np.triu(rng.random((l, l)) < 0.3, 1)] = nan
    upper[0, 1] = 0.5  # at least one rated pair
    m = upper + upper.T  # NaN on both sides
    np.fill_diagonal(m, nan)
    got = [read_ratings(write(tmp_path / "m.txt", text_of(m)), names),
           read_ratings(write(tmp_path / "m.csv", labelled_of(m, names, order=rng.permutation(l))), names)]
    rows = long_of(m, names).splitlines()
    rows[1:] = [rows[1:][k] for k in rng.permutation(len(rows) - 1)]  # pairs in any order
    got.append(read_ratings(write(tmp_path / "long.csv", "\n".join(rows) + "\n"), names))
    for g in got:
        np.testing.assert_array_equal(g, m)  # exact: repr and savetxt round-trip a float64


def test_a_shuffled_labelled_csv_gives_the_matrix_of_the_ordered_one(tmp_path):
    ordered = read_ratings(write(tmp_path / "ordered.csv", labelled_of(EXPECTED, SOUNDS)), SOUNDS)
    order = [4, 2, 0, 3, 1]
    shuffled = write(tmp_path / "shuffled.csv", labelled_of(EXPECTED, SOUNDS, order=order))
    assert shuffled.read_text().splitlines()[0] == ",Sim05_OBO,Sim03_FLT,Sim01_BCL,Sim04_HRN,Sim02_BSN"
    np.testing.assert_array_equal(ordered, EXPECTED)
    np.testing.assert_array_equal(read_ratings(shuffled, SOUNDS), EXPECTED)
    # upper-triangular in the file's own order: zeros below its diagonal, which is not below SOUNDS' diagonal
    in_file_order = np.triu(EXPECTED[np.ix_(order, order)], 1)
    names = [SOUNDS[k] for k in order]
    upper = write(tmp_path / "upper.csv", labelled_of(in_file_order, names, diagonal=0.016))
    assert upper.read_text().splitlines()[2] == "Sim03_FLT,0.0,0.016,0.25,1.0,0.75"
    np.testing.assert_array_equal(read_ratings(upper, SOUNDS), EXPECTED)


@pytest.mark.skipif(not (STUDIES / "Saitis2020_e2set1_general").is_dir(), reason=f"{STUDIES} is absent")
def test_the_published_saitis_matrix_reads_as_its_upper_triangle():
    study = STUDIES / "Saitis2020_e2set1_general"
    sounds = sorted(p.stem for p in (study / "audio").iterdir())
    assert len(sounds) == 14 and sounds[:2] == ["Sim01_BCL", "Sim02_BSN"]
    m = read_ratings(study / "ratings.txt", sounds)
    assert m.shape == (14, 14) and m.dtype == np.float64
    assert np.isnan(np.diag(m)).all()  # its diagonal holds self-pair ratings (0.016258650, ...): ignored
    assert m[0, 1] == m[1, 0] == 0.334292325
    assert m[12, 13] == 0.60712075
    upper = np.loadtxt(study / "ratings.txt")
    i, j = np.triu_indices(14, 1)
    np.testing.assert_array_equal(m[i, j], upper[i, j])
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(read_matrix(study / "ratings.txt", 14), m)


# ----------------------------------------------------------------------------- errors: one line naming file and place

def with_pair(i: int, j: int, value: float) -> np.ndarray:
    """EXPECTED (5, 5) with ``value`` at (i, j) and (j, i)."""
    m = EXPECTED.copy()
    m[i, j] = m[j, i] = value
    return m


_ASYMMETRIC = EXPECTED.copy()
_ASYMMETRIC[1, 3] = 0.5
_LOWER = np.tril(EXPECTED, -1)
_RAGGED_TEXT = text_of(EXPECTED).splitlines()
_RAGGED_TEXT[3] = _RAGGED_TEXT[3].rsplit(" ", 1)[0]
_NOT_A_NUMBER = EXPECTED.astype(object)
_NOT_A_NUMBER[1, 2] = "abc"
_LONG = "sound_a,sound_b,dissimilarity\nSim01_BCL,Sim02_BSN,0.1\nSim03_FLT,Sim04_HRN,0.2\nSim05_OBO,Sim01_BCL,0.3\n"
_SIX = tuple(SOUNDS[:2]) + ("Foo",) + tuple(SOUNDS[3:]) + ("Bar",)
_FULL6 = np.full((6, 6), 0.5)
_ALL = "Sim01_BCL, Sim02_BSN, Sim03_FLT, Sim04_HRN, Sim05_OBO"
_LAYOUTS = ("expected a labelled matrix (first row and first column: sound names, first cell empty) "
            "or a long table with the header sound_a,sound_b,dissimilarity")


@pytest.mark.parametrize("name, text, message", [
    # --- whitespace matrix, rows and columns in the order of SOUNDS
    ("r.txt", text_of(EXPECTED[:4, :4]), f"the ratings matrix has 4 rows but 5 audio files ({_ALL})"),
    ("r.txt", text_of(EXPECTED[:4]), "the ratings matrix has shape (4, 5); it must be square"),
    ("r.txt", "# rated on 2024-05-01\n" + text_of(_NOT_A_NUMBER), "line 3, column 3: 'abc' is not a number"),
    ("r.txt", "0,0.1\n0.1,0\n",
     "line 1, column 1: '0,0.1' is not a number (comma-separated values belong in a .csv file)"),
    ("r.txt", "\n".join(_RAGGED_TEXT), "line 4 has 4 numbers but line 1 has 5; a ratings matrix is square"),
    ("r.txt", "", "empty file (no numbers); expected a whitespace matrix"),
    ("r.txt", "# nothing yet\n", "empty file (no numbers)"),
    ("r.txt", text_of(_ASYMMETRIC), "ratings matrix is neither symmetric nor upper-triangular with zeros below: "
                                    "row 2, column 4 (Sim02_BSN, Sim04_HRN) is 0.5 but "
                                    "row 4, column 2 (Sim04_HRN, Sim02_BSN) is 0.3"),
    ("r.txt", text_of(_LOWER, diagonal=0.0), "neither symmetric nor upper-triangular with zeros below: "
                                             "row 1, column 2 (Sim01_BCL, Sim02_BSN) is 0.0 but "
                                             "row 2, column 1 (Sim02_BSN, Sim01_BCL) is 0.1"),
    ("r.txt", text_of(with_pair(2, 4, -0.2)),
     "values range -0.2..1, outside [0, 1] (e.g. row 3, column 5 (Sim03_FLT, Sim05_OBO): -0.2): give the rating "
     "scale, e.g. --scale -1,1"),
    ("r.txt", text_of(with_pair(2, 4, np.inf)),
     "row 3, column 5 (Sim03_FLT, Sim05_OBO): inf is infinite; use nan or NA for an unrated pair"),
    ("r.txt", text_of(with_pair(2, 4, -np.inf)), "row 3, column 5 (Sim03_FLT, Sim05_OBO): -inf is infinite"),
    ("r.txt", text_of(EXPECTED * 7),  # a 0-7 scale: (0, 1) is 0.7, (0, 2) the first above 1
     "values range 0..7, outside [0, 1] (e.g. row 1, column 3 (Sim01_BCL, Sim03_FLT): 1.75): give the rating scale, "
     "e.g. --scale 0,7"),
    ("r.txt", text_of(np.full((5, 5), nan)), "no rated pair"),
    # --- labelled CSV
    ("r.csv", labelled_of(_FULL6, _SIX), "ratings name(s) Foo, Bar match no audio file; audio file(s) Sim03_FLT "
                                         "have no ratings (names are the audio file stems, e.g. Sim01_BCL; leave a "
                                         "sound out with --exclude NAME)"),
    ("r.csv", ",Sim01_BCL,Sim02_BSN,Sim03_FLT,Sim04_HRN,Sim02_BSN\n",
     "sound name Sim02_BSN appears twice in row 1 (columns 3 and 6)"),
    ("r.csv", ",Sim01_BCL,Sim02_BSN\nSim01_BCL,,0.1\nSim02_BSN,0.1,\nSim02_BSN,0.1,\n",
     "sound name Sim02_BSN appears twice in column 1 (rows 3 and 4)"),
    ("r.csv", ",Sim01_BCL,Sim02_BSN\nSim01_BCL,,0.1\nSim02_BSN,0.1\n",
     "row 3 has 2 cells but the header (row 1) has 3"),
    ("r.csv", ",Sim01_BCL,Sim02_BSN\nSim01_BCL,,0.1\nSim03_FLT,0.1,\n",
     "the header row and the first column must name the same sounds: Sim02_BSN only in row 1; "
     "Sim03_FLT only in column 1"),
    ("r.csv", ",Sim01_BCL,\nSim01_BCL,,0.1\n,0.1,\n", "row 1, column 3 has no sound name"),
    ("r.csv", labelled_of(_NOT_A_NUMBER, SOUNDS), "row 3, column 4 (Sim02_BSN, Sim03_FLT): 'abc' is not a number"),
    ("r.csv", labelled_of(with_pair(0, 4, 1.5), SOUNDS, order=[4, 2, 0, 3, 1]),  # rows 2-6: OBO FLT BCL HRN BSN
     "values range 0..1.5, outside [0, 1] (e.g. row 2, column 4 (Sim05_OBO, Sim01_BCL): 1.5)"),
    ("r.csv", labelled_of(_ASYMMETRIC, SOUNDS, order=[4, 2, 0, 3, 1]),  # named where they are in the file
     "neither symmetric nor upper-triangular with zeros below: row 5, column 6 (Sim04_HRN, Sim02_BSN) is 0.3 but "
     "row 6, column 5 (Sim02_BSN, Sim04_HRN) is 0.5"),
    ("r.csv", labelled_of(np.full((5, 5), nan), SOUNDS), "no rated pair"),
    # --- long CSV
    ("r.csv", "sound_a,sound_b,dissimilarity\nSim01_BCL,Sim02_BSN,0.1\nSim03_FLT,Foo,0.2\nSim04_HRN,Sim02_BSN,0.3\n",
     "ratings name(s) Foo (row 3) match no audio file; audio file(s) Sim05_OBO have no ratings"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN,0.3\nSim05_OBO,Sim05_OBO,0.1\nSim02_BSN,Sim01_BCL,0.15\n",
     "pair (Sim02_BSN, Sim01_BCL) is rated 0.1 in row 2 but 0.15 in row 7"),
    ("r.csv", _LONG + "Sim04_HRN,Sim03_FLT,\n", "pair (Sim04_HRN, Sim03_FLT) is rated 0.2 in row 3 but nan in row 5"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN,high\n", "row 5, column 3 (Sim02_BSN, Sim04_HRN): 'high' is not a number"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN,-0.5\n", "values range -0.5..0.3, outside [0, 1] (e.g. row 5,"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN,-inf\n", "row 5, column 3 (Sim02_BSN, Sim04_HRN): -inf is infinite"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN,inf\n", "row 5, column 3 (Sim02_BSN, Sim04_HRN): inf is infinite"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN,5\n", "row 5, column 3 (Sim02_BSN, Sim04_HRN): 5.0): give the rating scale"),
    ("r.csv", _LONG + "Sim02_BSN,Sim04_HRN\n", "row 5 has 2 cells but the header (row 1) has 3"),
    ("r.csv", _LONG + ",Sim04_HRN,0.5\n", "row 5, column 1 has no sound name"),
    ("r.csv", "sound_a,sound_b,dissimilarity\nSim01_BCL,Sim02_BSN,nan\nSim03_FLT,Sim04_HRN,\nSim05_OBO,Sim05_OBO,0.5\n",
     "no rated pair"),
    # --- neither CSV layout
    ("r.csv", "", "empty file; " + _LAYOUTS),
    ("r.csv", "\n\n", "empty file; " + _LAYOUTS),
    ("r.csv", "\nsound,other,rating\nSim01_BCL,Sim02_BSN,0.1\n", "row 2 starts no known layout; " + _LAYOUTS),
])
def test_bad_ratings_files_are_one_line_naming_the_file_and_the_place(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    with pytest.raises(DataError, match=re.escape(message)) as e:
        read_ratings(path, SOUNDS)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_read_matrix_names_rows_and_columns_and_the_expected_size(tmp_path):
    path = write(tmp_path / "m.txt", text_of(with_pair(2, 4, -0.2)))
    with pytest.raises(DataError, match=re.escape(f"{path}: row 3, column 5: -0.2 is negative")):
        read_matrix(path, 5)
    path = write(tmp_path / "m.txt", text_of(EXPECTED[:4, :4]))
    with pytest.raises(DataError, match=re.escape(f"{path}: the ratings matrix has 4 rows but 5 sounds")):
        read_matrix(path, 5)
    assert read_matrix(path).shape == (4, 4)  # no size asked


@pytest.mark.parametrize("name", ["r.txt", "r.csv"])
def test_unreadable_files_name_the_file(tmp_path, name):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / name}: cannot read the ratings file")):
        read_ratings(tmp_path / name, SOUNDS)  # absent
    (tmp_path / name).write_bytes(b"\xff\xfe0.1 0.2\n")  # not UTF-8
    with pytest.raises(DataError, match="codec can't decode") as e:
        read_ratings(tmp_path / name, SOUNDS)
    assert str(e.value).startswith(f"{tmp_path / name}: ") and "\n" not in str(e.value)
