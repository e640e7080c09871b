"""Every participant's ratings into `data add` (#36): the long CSV of judgements, a folder of per-participant
matrices, --scale/--similarity, --average-orders, NA cells, --exclude; each rule against hand-built studies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_tone
from timbre_jax import cli
from timbre_jax.data import participant_files, studies
from timbre_jax.data.rating_cells import Scale
from timbre_jax.data.rating_files import read_ratings
from timbre_jax.errors import DataError, UsageError

SAITIS = Path(__file__).resolve().parents[1].parent / "shared" / "studies" / "Saitis2020_e2set1_general"
SOUNDS = ("a", "b", "c", "d")
nan = np.nan


def tones(folder: Path, names=SOUNDS) -> Path:
    for k, name in enumerate(names):
        write_tone(folder / f"{name}.aiff", 220.0 * 2 ** (k / 4), seconds=0.05)
    return folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["--quiet", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def nothing_left(home: Path) -> bool:
    root = home / "studies"
    return not root.exists() or not any(root.iterdir())


def add(capsys, tmp_path, ratings: Path, *options, audio=None) -> tuple[int, str, str]:
    audio = audio or tones(tmp_path / "audio")
    return run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings), *options)


# A 1-9 listening test of 4 sounds, the header in other words.  On [0, 1] ((x - 1) / 8):
#   L1: (a, b) 9 then (b, a) 5 -> 1 and 0.5, mean 0.75 (a repeat, either order); (a, c) 1 -> 0; (c, d) 5 -> 0.5;
#       self-comparisons (a, a) 1 -> 0 and (b, b) 3 -> 0.25: mean 0.125;
#   L2: (a, b) 3 -> 0.25; (b, d) 7 -> 0.75; (a, c) NA and (c, d) empty: unrated;
#   L3: only NA and N/A: rated nothing, left out.
# Mean: (a, b) (0.75 + 0.25) / 2 = 0.5, (a, c) 0, (c, d) 0.5, (b, d) 0.75; (a, d) and (b, c) rated by nobody.
LONG = """Listener,Sound1,Sound2,Score,RT
L1,a,b,9,1.2
L2,a,b,3,0.8
L1,a,c,1,0.5
L1,c,d,5,0.7
L1,a,a,1,0.4
L1,b,b,3,0.4
L2,b,d,7,0.9
L2,a,c,NA,0.0
L2,c,d,,0.0
L3,a,b,NA,0.0
L3,c,d,N/A,0.0
L1,b,a,5,1.1
"""
MEAN = np.array([[nan, 0.5, 0.0, nan],
                 [0.5, nan, nan, 0.75],
                 [0.0, nan, nan, 0.5],
                 [nan, 0.75, 0.5, nan]])


def test_the_long_csv_of_judgements_gives_the_hand_built_participants_and_mean(tmp_path, fresh_home, capsys):
    code, out, err = add(capsys, tmp_path, write(tmp_path / "judgements.csv", LONG), "--scale", "1,9")
    assert code == 0, err
    assert "columns participant=Listener, sound_a=Sound1, sound_b=Sound2, rating=Score; scale 1..9 mapped" in out
    assert ("2 participants, 8 judgements; 1 repeated pairs (averaged within each participant); 2 self-comparisons "
            "(left out of the fits; their mean 0.125 is the floor); unrated pairs (rated by nobody): 2 of 6") in out
    assert err.count("\n") == 1 and "participant L3 (first in row 11) rated no pair" in err and "left out" in err
    study = studies.load("Mine")
    np.testing.assert_array_equal(study.ratings, MEAN)
    p = study.participants  # read back from study.json
    assert p.ids == ("L1", "L2")
    np.testing.assert_array_equal(p.ratings[0], [[nan, 0.75, 0.0, nan], [0.75, nan, nan, nan],
                                                 [0.0, nan, nan, 0.5], [nan, nan, 0.5, nan]])
    np.testing.assert_array_equal(p.ratings[1], [[nan, 0.25, nan, nan], [0.25, nan, nan, 0.75],
                                                 [nan, nan, nan, nan], [nan, 0.75, nan, nan]])
    np.testing.assert_array_equal(p.counts[0], [[1, 2, 1, 0], [2, 1, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]])
    np.testing.assert_array_equal(p.counts[1], [[0, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(p.retest, [[1.0, 0.5]])  # first and second judgement of L1's (a, b)
    np.testing.assert_array_equal(p.self_ratings, [0.125, nan])
    assert p.floor == 0.125
    np.testing.assert_array_equal(p.mean(), study.ratings)
    manifest = json.loads((fresh_home / "studies" / "Mine" / "study.json").read_text())
    assert manifest["reading"]["scale"] == [1.0, 9.0] and manifest["reading"]["similarity"] is False
    assert manifest["participants"]["pairs"][1] == [0.25, None, None, None, 0.75, None]  # (a,b) (a,c) ... (c,d)
    assert (fresh_home / "studies" / "Mine" / "ratings.csv").read_text() == LONG  # the raw file, copied


def test_similarities_are_one_minus_the_scaled_ratings(tmp_path):
    dis = participant_files.read(write(tmp_path / "j.csv", LONG), SOUNDS, scale=Scale((1, 9)))
    sim = participant_files.read(tmp_path / "j.csv", SOUNDS, scale=Scale((1, 9), similarity=True))
    np.testing.assert_array_equal(sim.mean, 1 - MEAN)
    np.testing.assert_array_equal(sim.participants.self_ratings, [0.875, nan])  # (1 - 0 + 1 - 0.25) / 2
    np.testing.assert_array_equal(sim.participants.counts, dis.participants.counts)
    # --similarity without --scale: numbers in [0, 1] already, turned around
    rows = "subject,stim1,stim2,rating\ns1,a,b,0.2\ns1,c,d,0.9\ns2,a,b,0.4\ns2,a,c,0\ns2,b,d,1\n"
    got = participant_files.read(write(tmp_path / "s.csv", rows), SOUNDS, scale=Scale(None, True))
    assert (got.mean[0, 1], got.mean[2, 3], got.mean[0, 2], got.mean[1, 3]) == pytest.approx((0.7, 0.1, 1.0, 0.0))


def test_one_participant_only_is_accepted_with_a_warning(tmp_path, fresh_home, capsys):
    text = "participant,sound_a,sound_b,rating\nP1,a,b,0.5\nP1,a,c,0.25\nP1,b,d,0.75\nP1,c,d,1\n"
    code, out, err = add(capsys, tmp_path, write(tmp_path / "one.csv", text))
    assert code == 0, err
    assert "one participant only (P1): the mean is theirs; reliability and noise ceilings need two or more" in err
    assert studies.load("Mine").ratings[0, 1] == 0.5 and studies.load("Mine").participants.m == 1


def test_other_column_names_are_given_with_columns(tmp_path, fresh_home, capsys):
    text = "who,first,second,judgement\nP1,a,b,0.5\nP1,c,d,0.25\nP2,a,c,0.75\nP2,b,d,1\n"
    path = write(tmp_path / "j.csv", text)
    code, _, err = add(capsys, tmp_path, path)
    assert code == 1 and "row 1 starts no known layout" in err
    code, out, err = add(capsys, tmp_path, path, "--columns",
                         "participant=who,sound_a=first,sound_b=second,rating=judgement")
    assert code == 0, err
    assert "columns participant=who, sound_a=first, sound_b=second, rating=judgement" in out
    assert studies.load("Mine").participants.ids == ("P1", "P2")


@pytest.mark.parametrize("text, options, message", [
    ("who,a,b,rating\nP1,a,b,0.5\n", ["--columns", "participant=subject"],
     "--columns participant=subject: {path} has no column 'subject' (its header, row 1: who,a,b,rating)"),
    ("who,a,b,rating\nP1,a,b,0.5\n", ["--columns", "participant"], "'participant': expected ROLE=COLUMN"),
    ("who,a,b,rating\nP1,a,b,0.5\n", ["--columns", "speaker=who"], "unknown role 'speaker'"),
    (LONG, ["--scale", "9,1"], "--scale '9,1': expected LOW,HIGH, two numbers with LOW < HIGH"),
    (LONG, ["--scale", "1-9"], "--scale '1-9': expected LOW,HIGH"),
    (LONG, ["--scale", "1,9", "--exclude", "zz"], "--exclude zz: no audio file and no rating of {path} has that name"),
])
def test_bad_options_are_usage_errors_and_write_nothing(tmp_path, fresh_home, capsys, text, options, message):
    path = write(tmp_path / "j.csv", text)
    code, _, err = add(capsys, tmp_path, path, *options)
    assert code == 2 and message.format(path=path) in err and err.count("\n") == 1, err
    assert nothing_left(fresh_home)


@pytest.mark.parametrize("text, message", [
    (LONG + "L2,a\n", "row 14 has 2 cells but the header (row 1) has 5: Listener,Sound1,Sound2,Score,RT"),
    (LONG + "L2,a,d,high,0.1\n", "row 14, column 4 (a, d): 'high' is not a number"),
    (LONG + " ,a,d,3,0.1\n", "row 14, column 1: no participant id"),
    (LONG + "L2,a,,3,0.1\n", "row 14, column 3 has no sound name"),
    (LONG + "L2,a,zz,3,0.1\n", "ratings name(s) zz (row 14) match no audio file (names are the audio file stems"),
    (LONG + "L2,a,d,inf,0.1\n", "row 14, column 4 (a, d): inf is infinite; use nan or NA for an unrated pair"),
    (LONG, "values range 1..9, outside [0, 1] (e.g. row 2, column 4 (a, b): 9.0): give the rating scale, "
           "e.g. --scale 1,9"),
    (LONG.replace("L1,a,c,1,0.5", "L1,a,c,NA,0.5").replace("L1,c,d,5", "L1,c,d,NA").replace("L2,b,d,7", "L2,b,d,NA"),
     "audio file(s) c, d have no ratings (leave a sound out with --exclude NAME)"),
    ("subject,a,b,rating\nS1,a,b,NA\nS2,c,c,0.5\n", "no rated pair (every rating is empty, NA or a self-comparison)"),
    ("subject,participant,a,b,rating\n", "columns 1 (subject) and 2 (participant) both read as the participant; "
                                         "say which with --columns participant=subject"),
])
def test_malformed_rows_are_one_line_naming_the_line_exit_1_nothing_written(tmp_path, fresh_home, capsys, text,
                                                                             message):
    path = write(tmp_path / "j.csv", text)
    options = [] if "--scale" in message else ["--scale", "1,9"]
    code, _, err = add(capsys, tmp_path, path, *options)
    assert code == 1 and f"{path}: " in err and message in err and err.count("\n") == 1, err
    assert nothing_left(fresh_home)


def test_a_value_outside_the_given_scale_is_refused_naming_its_row(tmp_path):
    with pytest.raises(DataError, match=r"row 2, column 4 \(a, b\): 9.0 is outside the rating scale 1..7 "
                                        r"\(--scale 1,7\)"):
        participant_files.read(write(tmp_path / "j.csv", LONG), SOUNDS, scale=Scale((1, 7)))
    m = np.array([[0, 2, 3, 4], [0, 0, 5, 6], [0, 0, 0, 8], [0, 0, 0, 0]])  # upper-triangular: zeros below are layout
    np.savetxt(tmp_path / "m.txt", m)
    scaled = read_ratings(tmp_path / "m.txt", SOUNDS, scale=Scale((0, 8)))
    np.testing.assert_array_equal(scaled[0], [nan, .25, .375, .5])
    with pytest.raises(DataError, match=r"row 3, column 4 \(c, d\): 8.0 is outside the rating scale 1..7"):
        read_ratings(tmp_path / "m.txt", SOUNDS, scale=Scale((1, 7)))


# ----------------------------------------------------------------------------- a folder of per-participant files

def test_a_folder_of_participant_files_in_the_three_layouts(tmp_path, fresh_home, capsys):
    folder = tmp_path / "raters"
    # on a 1-5 scale ((x - 1) / 4): p1 a full text matrix with NA, p2 a labelled CSV, p3 a long CSV, p4 nothing rated
    write(folder / "p1.txt", "0 5 3 NA\n5 0 1 2\n3 1 0 NA\n NA 2 NA 0\n")
    write(folder / "p2.csv", ",d,b,a\nd,,5,1\nb,5,,3\na,1,3,\n")  # c not named: all its pairs unrated
    write(folder / "p3.csv", "sound_a,sound_b,dissimilarity\na,b,2\nc,d,4\n")
    write(folder / "p4.txt", "nan nan nan nan\nnan nan nan nan\nnan nan nan nan\nnan nan nan nan\n")
    code, out, err = add(capsys, tmp_path, folder, "--scale", "1,5")
    assert code == 0, err
    assert "p4.txt: no rated pair: participant p4 left out" in err
    assert "read " + str(folder) + ": a folder of 4 participants' files; scale 1..5 mapped to [0, 1]" in out
    study = studies.load("Mine")
    p = study.participants
    assert p.ids == ("p1", "p2", "p3")
    # (a, b): p1 1, p2 0.5, p3 0.25; (a, c): p1 0.5; (a, d): p2 0; (b, c): p1 0; (b, d): p1 0.25, p2 1; (c, d): p3 0.75
    expected = {(0, 1): (1 + 0.5 + 0.25) / 3, (0, 2): 0.5, (0, 3): 0.0, (1, 2): 0.0, (1, 3): (0.25 + 1) / 2,
                (2, 3): 0.75}
    for (i, j), value in expected.items():
        assert study.ratings[i, j] == study.ratings[j, i] == pytest.approx(value, abs=1e-15)
    np.testing.assert_array_equal(p.counts.sum(axis=0)[np.triu_indices(4, 1)], [3, 1, 1, 1, 2, 1])
    assert sorted(q.name for q in (fresh_home / "studies" / "Mine" / "ratings").iterdir()) == \
        ["p1.txt", "p2.csv", "p3.csv", "p4.txt"]
    assert studies.verify("Mine") == []
    (fresh_home / "studies" / "Mine" / "ratings" / "p2.csv").write_text("changed")
    assert studies.verify("Mine") == [f"{fresh_home / 'studies' / 'Mine' / 'ratings' / 'p2.csv'}: changed since "
                                      "`data add` (sha256 differs)"]


def test_a_folder_with_one_participant_twice_is_refused_naming_both(tmp_path, fresh_home, capsys):
    folder = tmp_path / "raters"
    write(folder / "anna.txt", "0 0.5 0.2 0.1\n0 0 0.3 0.4\n0 0 0 0.6\n0 0 0 0\n")
    write(folder / "bob.txt", "0 0.4 0.2 0.1\n0 0 0.3 0.4\n0 0 0 0.6\n0 0 0 0\n")
    write(folder / "carl.txt", (folder / "anna.txt").read_text())
    code, _, err = add(capsys, tmp_path, folder)
    assert code == 1 and f"{folder}: anna.txt and carl.txt have identical content: one participant given twice?" in err
    assert nothing_left(fresh_home)


# ----------------------------------------------------------------------------- every layout: orders, NA, exclusion

def test_average_orders_is_named_in_the_refusal_and_averages_both_orders(tmp_path):
    full = write(tmp_path / "m.txt", "0 0.2 0.4 0.6\n0.4 0 0.5 NA\n0.4 0.5 0 0.8\nN/A 0.7 0.8 0\n")
    with pytest.raises(DataError, match=r"row 1, column 2 \(a, b\) is 0.2 but row 2, column 1 \(b, a\) is 0.4; if "
                                        r"both orders were asked, --average-orders averages them"):
        read_ratings(full, SOUNDS)
    got = read_ratings(full, SOUNDS, average_orders=True)
    # (a, b) (0.2 + 0.4) / 2; (a, d) and (b, d): one order rated, that one; N/A and NA unrated
    np.testing.assert_allclose(got[np.triu_indices(4, 1)], [0.3, 0.4, 0.6, 0.5, 0.7, 0.8], rtol=0, atol=1e-15)
    long = write(tmp_path / "l.csv", "sound_a,sound_b,dissimilarity\na,b,0.2\nb,a,0.4\nc,d,0.8\na,c,0.1\nb,d,N/A\n")
    with pytest.raises(DataError, match=r"pair \(b, a\) is rated 0.2 in row 2 but 0.4 in row 3; .*--average-orders"):
        read_ratings(long, SOUNDS)
    assert read_ratings(long, SOUNDS, average_orders=True)[0, 1] == pytest.approx(0.3, abs=1e-15)
    lower = write(tmp_path / "lower.txt", "0 0 0 0\n0.2 0 0 0\n0.4 0.5 0 0\n0.6 0.7 0.8 0\n")
    with pytest.raises(DataError, match="neither symmetric nor upper-triangular"):  # not two orders: never halved
        read_ratings(lower, SOUNDS, average_orders=True)


def test_na_and_empty_cells_are_unrated_in_every_layout(tmp_path):
    text = write(tmp_path / "m.txt", "0 0.1 NA n/a\n0 0 0.2 nan\n0 0 0 0.3\n0 0 0 0\n")
    labelled = write(tmp_path / "m.csv", ",a,b,c,d\na,,0.1,NA,\nb,0.1,,0.2,N/A\nc,na,0.2,,0.3\nd,,n/a,0.3,\n")
    for path in (text, labelled):
        np.testing.assert_array_equal(read_ratings(path, SOUNDS)[np.triu_indices(4, 1)], [.1, nan, nan, .2, nan, .3])


def test_exclude_leaves_a_sound_out_of_every_layout(tmp_path, fresh_home, capsys):
    audio = tones(tmp_path / "audio", ("a", "b", "c", "d", "e"))
    matrix = write(tmp_path / "m.txt", "0 .1 .2 .3 .4\n0 0 .5 .6 .7\n0 0 0 .8 .9\n0 0 0 0 .15\n0 0 0 0 0\n")
    code, _, err = add(capsys, tmp_path, matrix, audio=audio)
    assert code == 0, err  # a text matrix over all 5 sounds
    code, out, err = run_cli(capsys, "data", "add", "Four", "--audio", str(audio), "--ratings", str(matrix),
                             "--exclude", "c")
    assert code == 0 and "left out: c" in out, err
    four = studies.load("Four")
    assert four.sounds == ("a", "b", "d", "e") and [f.name for f in four.files] == ["a.aiff", "b.aiff", "d.aiff",
                                                                                   "e.aiff"]
    np.testing.assert_array_equal(four.ratings[np.triu_indices(4, 1)], [.1, .3, .4, .6, .7, .15])
    assert not (fresh_home / "studies" / "Four" / "audio" / "c.aiff").exists()
    # an audio file no rating names, and a rated sound without audio: refused, naming --exclude; accepted with it
    long = write(tmp_path / "j.csv", "participant,sound_a,sound_b,rating\nP1,a,b,.5\nP1,b,d,.2\nP1,a,x,.3\n"
                                     "P2,a,d,.4\nP2,e,a,.1\n")
    code, _, err = run_cli(capsys, "data", "add", "Other", "--audio", str(audio), "--ratings", str(long))
    assert code == 1 and err.endswith(": ratings name(s) x (row 4) match no audio file; audio file(s) c have no "
                                      "ratings (names are the audio file stems, e.g. a; leave a sound out with "
                                      "--exclude NAME)\n")
    code, _, err = run_cli(capsys, "data", "add", "Other", "--audio", str(audio), "--ratings", str(long),
                           "--exclude", "x", "--exclude", "c")
    assert code == 0, err
    other = studies.load("Other")
    assert other.sounds == ("a", "b", "d", "e") and other.participants.counts.sum() == 2 * 4
    assert studies.names() == ["Four", "Mine", "Other"]


@pytest.mark.skipif(not SAITIS.is_dir(), reason=f"{SAITIS} is absent")
def test_saitis_as_three_listeners_on_a_1_to_9_scale_gives_its_published_mean(tmp_path, fresh_home, capsys):
    published = np.loadtxt(SAITIS / "ratings.txt")
    names = sorted(p.stem for p in (SAITIS / "audio").iterdir())
    rows = ["subject_id,stimulus_a,stimulus_b,response"]
    for i, j in zip(*np.triu_indices(14, 1)):
        x = 1 + 8 * published[i, j]
        spread = 4 * min(published[i, j], 1 - published[i, j])  # P1 below, P3 above, their mean x: all in 1..9
        for who, y in (("P1", x - spread), ("P2", x), ("P3", x + spread)):
            rows.append(f"{who},{names[j]},{names[i]},{float(y)!r}")  # the second sound first: order is free
    rows.append(f"P2,{names[0]},{names[0]},1")  # a self-comparison
    path = write(tmp_path / "saitis.csv", "\n".join(rows) + "\n")
    code, out, err = run_cli(capsys, "data", "add", "Saitis", "--audio", str(SAITIS / "audio"), "--ratings", str(path),
                             "--scale", "1,9")
    assert code == 0, err
    assert "3 participants, 274 judgements; 1 self-comparisons (left out of the fits; their mean 0.000" in out
    study = studies.load("Saitis")
    i, j = np.triu_indices(14, 1)
    np.testing.assert_allclose(study.ratings[i, j], published[i, j], rtol=0, atol=1e-14)
    assert study.participants.pairs.shape == (3, 91)


# ----------------------------------------------------------------------------- the stored mean is a loop over the rows

JUDGEMENT = st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.sampled_from(SOUNDS), st.sampled_from(SOUNDS),
                      st.one_of(st.integers(1, 9).map(str), st.sampled_from(["NA", "", "4.5"])))


@pytest.fixture(scope="module")
def four_tones(tmp_path_factory):
    return tones(tmp_path_factory.mktemp("four") / "audio")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JUDGEMENT, max_size=25), st.booleans())
def test_the_stored_mean_is_a_loop_over_the_rows(four_tones, extra, similarity):
    base = [("P0", a, b, "5") for k, a in enumerate(SOUNDS) for b in SOUNDS[k + 1:]]  # every sound rated once
    rows = base + extra
    path = four_tones.parent / "judgements.csv"
    write(path, "participant,sound_a,sound_b,rating\n" + "".join(f"{p},{a},{b},{x}\n" for p, a, b, x in rows))
    # the rule written out: per participant, the mean of their judgements of each unordered pair; then per pair the
    # mean over the participants who rated it
    own: dict[tuple[str, frozenset], list[float]] = {}
    for p, a, b, x in rows:
        if a != b and x not in ("NA", ""):
            y = (float(x) - 1) / 8
            own.setdefault((p, frozenset((a, b))), []).append(1 - y if similarity else y)
    expected = np.full((4, 4), nan)
    for i in range(4):
        for j in range(4):
            means = [sum(v) / len(v) for (p, pair), v in own.items() if pair == frozenset((SOUNDS[i], SOUNDS[j]))]
            if i != j and means:
                expected[i, j] = sum(means) / len(means)
    options = ["--similarity"] if similarity else []
    assert cli.main(["--quiet", "data", "add", "Loop", "--audio", str(four_tones), "--ratings", str(path),
                     "--scale", "1,9", *options]) == 0
    try:
        np.testing.assert_allclose(studies.load("Loop").ratings, expected, rtol=0, atol=1e-15)
        participants = {p for p, pair in own}
        assert set(studies.load("Loop").participants.ids) == participants
    finally:
        studies.remove("Loop")


def test_scale_and_columns_parse_or_say_why():
    assert Scale.parse("1,9") == Scale((1.0, 9.0)) and Scale.parse(None, True) == Scale(None, True)
    assert Scale.parse(" -3 , 3 ").bounds == (-3.0, 3.0)
    for bad in ("1", "1,9,10", "a,b", "nan,9", "1,inf", "5,5"):
        with pytest.raises(UsageError, match="expected LOW,HIGH"):
            Scale.parse(bad)
    assert math.isclose(Scale((1, 9)).dissimilarities(Path("f"), np.array([5.0]), str)[0], 0.5)


def test_a_study_added_before_participants_existed_still_loads_and_verifies(tmp_path, fresh_home, capsys):
    matrix = write(tmp_path / "m.txt", "0 .1 .2 .3\n0 0 .5 .6\n0 0 0 .8\n0 0 0 0\n")
    assert add(capsys, tmp_path, matrix)[0] == 0
    path = fresh_home / "studies" / "Mine" / "study.json"
    manifest = json.loads(path.read_text())
    assert manifest["reading"]["layout"] == "averaged ratings, a text matrix" and "participants" not in manifest
    digest = manifest.pop("ratings_files")["ratings.txt"]
    del manifest["reading"]
    path.write_text(json.dumps({**manifest, "ratings_sha256": digest}))  # the manifest of an older version
    study = studies.load("Mine")
    assert study.participants is None and study.ratings[2, 3] == 0.8 and studies.verify("Mine") == []
    (fresh_home / "studies" / "Mine" / "ratings.txt").write_text("0")
    assert studies.verify("Mine") == [f"{fresh_home / 'studies' / 'Mine' / 'ratings.txt'}: changed since `data add` "
                                      "(sha256 differs)"]
