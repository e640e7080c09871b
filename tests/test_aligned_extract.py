"""Frame-aligned extraction: the pair loop of any per-sound sequence (a user's embedder), its
errors, and the extract pipeline writing aligned store files (mfcc-aligned, --embedder --aligned)."""

import json

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

import timbre_jax_extract as tje  # noqa: E402
from conftest import needs_mirror  # noqa: E402
from timbre_jax import cli  # noqa: E402
from timbre_jax.core.aligned import AlignedPairs  # noqa: E402
from timbre_jax.data import audio, store, studies  # noqa: E402
from timbre_jax.data.sounds import stimuli  # noqa: E402
from timbre_jax.errors import DataError  # noqa: E402
from timbre_jax_extract.aligned import pairs_of  # noqa: E402
from timbre_jax_extract.models.embedder import Embedder  # noqa: E402

SR = 44100

TOY = '''
import numpy as np


def toy(audio, sample_rate):
    """Per 512-sample frame (hop 256): log10 mean energy and zero crossings per second, (frames, 2)."""
    x = np.asarray(audio, dtype=np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::256]
    energy = np.log10(1e-12 + (frames ** 2).mean(axis=1))
    crossings = (np.diff(np.signbit(frames), axis=1) != 0).mean(axis=1) * sample_rate
    return np.stack([energy, crossings], axis=1)


def vector(audio, sample_rate):
    return toy(audio, sample_rate).mean(axis=0)
'''
namespace: dict = {}
exec(TOY, namespace)
toy = namespace["toy"]


def waves_of(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [np.sin(2 * np.pi * (150 + 60 * k) * np.arange(n) / SR) * np.hanning(n) + 0.02 * rng.standard_normal(n)
            for k, n in enumerate(lengths)]


def loop(embed, waves, sr):
    """The benchmark's rule written out: zero-pad the shorter audio, embed both, sum over frames."""
    squares, products, energies, frames = [], [], [], []
    for i in range(len(waves)):
        for j in range(i + 1, len(waves)):
            n = max(len(waves[i]), len(waves[j]))
            a = embed(np.concatenate([waves[i], np.zeros(n - len(waves[i]))]), sr)
            b = embed(np.concatenate([waves[j], np.zeros(n - len(waves[j]))]), sr)
            squares.append(((a - b) ** 2).sum(axis=0))
            products.append((a * b).sum())
            energies.append([(a * a).sum(), (b * b).sum()])
            frames.append(len(a))
    return np.array(squares), np.array(products), np.array(energies), np.array(frames)


def assert_equal_pairs(values: AlignedPairs, expected, rtol=1e-12):
    squares, products, energies, frames = expected
    np.testing.assert_array_equal(values.frames, frames)
    np.testing.assert_allclose(values.squares, squares, rtol=rtol)
    np.testing.assert_allclose(values.products, products, rtol=rtol)
    np.testing.assert_allclose(values.energies, energies, rtol=rtol)


def test_pairs_of_equals_the_loop_and_embeds_each_sound_and_padded_length_once():
    lengths = [3000, 5000, 5000, 12000, 3000]
    waves = waves_of(lengths)
    calls = []

    def counted(x, sr):
        calls.append(len(x))
        return toy(x, sr)

    values = pairs_of(counted, waves, SR, [f"s{k}" for k in range(5)])
    assert_equal_pairs(values, loop(toy, waves, SR))
    assert values.n_sounds == 5 and values.n_dims == 2
    # own: 5; padded: s0 and s4 to 5000 and 12000, s1 and s2 to 12000
    assert len(calls) == 5 + 6 and sorted(calls[5:]) == [5000, 5000, 12000, 12000, 12000, 12000]


def one_line_error(embed, waves, match):
    with pytest.raises(DataError, match=match) as e:
        pairs_of(embed, waves, SR, [f"s{k}" for k in range(len(waves))], "embedder 'toy.py:toy'")
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_sequences_are_one_line_errors_naming_the_sound():
    waves = waves_of([3000, 4000, 5000])
    one_line_error(lambda x, sr: toy(x, sr)[:, :1] if len(x) == 4000 else toy(x, sr),
                   waves, r"^sound s1: embedder 'toy.py:toy' returned 1 dims per frame, but 2 for the first sound")
    one_line_error(lambda x, sr: toy(x, sr).mean(axis=0), waves, r"^sound s0: .* returned shape \(2,\), not \(frames")
    one_line_error(lambda x, sr: toy(x, sr) * (np.nan if len(x) == 5000 else 1), waves,
                   r"^sound s2: .* non-finite values")
    def fails(x, sr):
        raise ZeroDivisionError("division by zero\nsecond line")

    one_line_error(fails, waves, r"^sound s0: embedder 'toy.py:toy' failed: ZeroDivisionError: division by zero$")
    # frames that depend on the audio, not only its length: the padded sound loses its zeros
    message = one_line_error(lambda x, sr: toy(np.trim_zeros(x, "b"), sr), waves,
                             r"^sounds s0 and s1 give sequences of shapes \(10, 2\) and \(14, 2\)")
    assert "4000 samples" in message


def test_the_padded_sound_is_named_when_only_its_padded_version_fails():
    waves = waves_of([3000, 4000])
    one_line_error(lambda x, sr: toy(x, sr) + (np.inf if len(x) == 4000 and x[-1] == 0 else 0), waves,
                   r"^sound s0 \(zero-padded to 4000 samples\): .* non-finite")


def toy_embedder(tmp_path, name="toyaligned", function="toy"):
    (tmp_path / "toy_embedder.py").write_text(TOY)
    spec = f"{tmp_path / 'toy_embedder.py'}:{function}"
    return spec, Embedder(namespace[function], name, spec=spec, aligned=True)


@needs_mirror
def test_an_aligned_embedder_writes_an_aligned_store_file(tmp_path, fresh_home):
    spec, extractor = toy_embedder(tmp_path)
    (path,) = tje.run(None, ["Grey1977"], extractor=extractor, progress=False)
    assert path == store.feature_file("extracted", "toyaligned", "Grey1977")
    stored = store.load(path)
    study = stimuli("Grey1977")
    waves = [audio.load(f)[0].astype(np.float32).astype(np.float64) for f in study.files]  # as the embedder sees them
    assert len({len(w) for w in waves}) > 8  # lengths differ: the padded path is taken
    assert isinstance(stored.features, AlignedPairs) and stored.sounds == study.sounds
    assert_equal_pairs(stored.features, loop(toy, waves, SR), rtol=1e-9)
    m = stored.metadata
    assert m["n_features"] == 2 and m["aligned"]["padding"].startswith("the shorter sound's audio zero-padded")
    assert m["parameters"] == {"embedder": spec, "sample_rate": None, "aligned": True}
    assert "frame-aligned" in m["layout"] and m["scale_divisor"] == 1.0
    assert all("cache_key" not in v for v in m["sounds"].values())


@needs_mirror
def test_a_vector_with_aligned_is_an_error_naming_the_sound_and_nothing_is_written(tmp_path, fresh_home):
    _, extractor = toy_embedder(tmp_path, "toyvector", "vector")
    with pytest.raises(tje.ExtractionError, match=r"sound \w+: embedder .* returned shape \(2,\), not \(frames") as e:
        tje.run(None, ["Grey1977"], extractor=extractor, progress=False)
    assert e.value.written == [] and list(e.value.failures) == ["Grey1977"]
    assert not store.feature_file("extracted", "toyvector", "Grey1977").exists()


def test_a_study_with_two_rates_is_refused_for_aligned_pairs(tmp_path, fresh_home):
    folder = tmp_path / "sounds"
    folder.mkdir()
    for k, rate in enumerate((SR, SR, 22050)):
        n = rate // 4
        sf.write(str(folder / f"s{k}.wav"), 0.3 * np.sin(2 * np.pi * 300 * (k + 1) * np.arange(n) / rate), rate)
    ratings = np.triu(np.full((3, 3), 0.5), 1)
    np.savetxt(tmp_path / "ratings.txt", ratings)
    studies.add("Rates", folder, tmp_path / "ratings.txt")
    _, extractor = toy_embedder(tmp_path)
    with pytest.raises(tje.ExtractionError, match=r"s2.wav: 22050 Hz, but .*s0.wav is at 44100 Hz"):
        tje.run(None, ["Rates"], extractor=extractor, progress=False)
    assert not store.feature_file("extracted", "toyaligned", "Rates").exists()


@needs_mirror
def test_mfcc_both_kinds_through_the_pipeline(fresh_home):
    from timbre_jax_extract.dsp.mfcc import Mfcc, MfccAligned

    written = tje.run("mfcc-aligned", ["Grey1977"], progress=False) + tje.run("mfcc", ["Grey1977"], progress=False)
    aligned, averaged = (store.load(p) for p in written)
    study = stimuli("Grey1977")
    waves = [audio.load(f)[0] for f in study.files]
    expected = MfccAligned().pairs(waves, SR)
    assert aligned.features.squares.shape == (120, 40)
    for name in ("squares", "products", "energies", "frames"):
        np.testing.assert_array_equal(getattr(aligned.features, name), getattr(expected, name))
    np.testing.assert_array_equal(averaged.features, np.stack([Mfcc().embed(w, SR) for w in waves]))
    for stored, name in ((aligned, "mfcc-aligned"), (averaged, "mfcc")):
        m = stored.metadata
        assert (m["representation"], m["n_features"], m["sample_rate"]) == (name, 40, "each file's own")
        assert m["parameters"]["pad_mode"] == "reflect" and m["versions"]["librosa"]
        assert m["scale_divisor"] == 1.0 and ("aligned" in m) == (name == "mfcc-aligned")
    assert "mfcc" in tje.EXTRACTABLE and "mfcc-aligned" in tje.EXTRACTABLE
    with pytest.raises(ValueError, match="takes no checkpoint"):
        tje.make_extractor("mfcc-aligned", checkpoint="x")


@needs_mirror
def test_the_extract_command_with_aligned(tmp_path, fresh_home, capsys):
    spec, _ = toy_embedder(tmp_path)
    assert cli.main(["--quiet", "extract", "--embedder", spec, "--name", "toycli", "--aligned",
                     "--datasets", "Grey1977"]) == 0
    stored = store.load(store.feature_file("extracted", "toycli", "Grey1977"))
    assert isinstance(stored.features, AlignedPairs) and stored.features.n_dims == 2
    assert json.loads(json.dumps(stored.metadata))["parameters"]["aligned"] is True
    capsys.readouterr()
    assert cli.main(["--quiet", "extract", "--representation", "mfcc", "--aligned", "--datasets", "Grey1977"]) == 2
    assert "--aligned goes with --embedder" in capsys.readouterr().err
