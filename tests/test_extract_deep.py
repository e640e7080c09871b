"""Deep embedders on their real architectures with random weights (no weights can be fetched).

Small configurations test behaviour quickly; the full-size configurations (the real
models' shapes) are instantiated once each.  Nothing here is a pretrained feature.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="feature extraction needs torch (pip install torch, then .[extract])")
transformers = pytest.importorskip("transformers", reason="the deep embedders need transformers")
pytest.importorskip("soundfile")  # the fake_data fixture writes audio

import timbre_jax_extract as tje  # noqa: E402
from timbre_jax.data import store  # noqa: E402
from timbre_jax_extract.models import deep  # noqa: E402


def small_config(rep):
    if rep == "encodec":
        return transformers.EncodecConfig(num_filters=4, hidden_size=16, upsampling_ratios=[8, 5, 4, 2],
                                          num_lstm_layers=1, codebook_size=16)
    if rep == "clap":
        return transformers.ClapAudioConfig(patch_embeds_hidden_size=16, hidden_size=128, depths=[1, 1, 1, 1],
                                            num_attention_heads=[1, 2, 4, 8], enable_fusion=False)
    return transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, conv_dim=[16] * 7, num_conv_pos_embeddings=16,
                                     num_conv_pos_embedding_groups=2)


CLASSES = {"encodec": deep.Encodec, "clap": deep.Clap, "mertav": deep.MertAv, "mertcat": deep.MertCat}
SMALL_DIM = {"encodec": 16, "clap": 128, "mertav": 32, "mertcat": 3 * 32}
RATE = {"encodec": 24000, "clap": 48000, "mertav": 24000, "mertcat": 24000}


def noise(n, seed=0):
    return 0.1 * np.random.default_rng(seed).standard_normal(n)


@pytest.mark.parametrize("rep", list(CLASSES))
def test_small_random_init_shape_determinism_and_batching(rep):
    ex = CLASSES[rep](config=small_config(rep))
    assert ex.checkpoint == "random-init" and ex.parameters()["checkpoint"] == "random-init"
    assert ex.sample_rate == RATE[rep] and ex.n_features == SMALL_DIM[rep]
    xs = [noise(int(0.3 * ex.sample_rate), 0), noise(int(0.3 * ex.sample_rate), 1), noise(int(0.2 * ex.sample_rate), 2)]
    batch = ex.features_batch(xs)
    assert all(f.shape == (ex.n_features,) and f.dtype == np.float64 and np.all(np.isfinite(f)) for f in batch)
    one_by_one = [ex.features(x) for x in xs]
    for a, b in zip(batch, one_by_one):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Same seed, same weights, same features; different inputs differ.
    again = CLASSES[rep](config=small_config(rep)).features(xs[0])
    np.testing.assert_array_equal(again, one_by_one[0])
    assert not np.allclose(one_by_one[0], one_by_one[1])


@pytest.mark.parametrize("rep,dim", [("encodec", 128), ("clap", 1024), ("mertav", 768), ("mertcat", 9984)])
def test_full_size_architectures(rep, dim):
    ex = tje.make_extractor(rep, checkpoint="random-init")
    assert ex.n_features == dim and ex.checkpoint == "random-init"
    f = ex.features(noise(int(0.25 * ex.sample_rate)))
    assert f.shape == (dim,) and np.all(np.isfinite(f))


def test_mertav_layer_weights():
    cfg = small_config("mertcat")
    cat = deep.MertCat(config=cfg).features(noise(6000)).reshape(3, 32)
    np.testing.assert_allclose(deep.MertAv(config=cfg).features(noise(6000)), cat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(deep.MertAv(config=cfg, layer_weights=[0, 0, 5]).features(noise(6000)), cat[2],
                               rtol=1e-12)
    with pytest.raises(ValueError, match="layer_weights"):
        deep.MertAv(config=cfg, layer_weights=[1, 1])


def test_missing_weights_tell_the_user_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(deep.WeightsUnavailable, match="--checkpoint"):
        tje.make_extractor("encodec")
    with pytest.raises(deep.WeightsUnavailable, match="does not exist"):
        tje.make_extractor("mertav", checkpoint=str(tmp_path / "nowhere"))


def test_mert_style_checkpoint_loads_into_hubert(tmp_path):
    """A folder shaped like m-a-p/MERT-v1-95M (custom model_type, MERT config keys, legacy
    weight-norm names in pytorch_model.bin) loads into HubertModel with every weight."""
    from safetensors.torch import load_file

    torch.manual_seed(3)
    ref = transformers.HubertModel(small_config("mertcat")).eval()
    ref.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(model_type="mert_model", architectures=["MERTModel"], feature_extractor_cqt=False, deepnorm=False,
               attention_relax=-1.0, auto_map={"AutoModel": "modeling_MERT.MERTModel"})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    state = load_file(tmp_path / "model.safetensors")
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    (tmp_path / "model.safetensors").unlink()
    torch.save(legacy, tmp_path / "pytorch_model.bin")

    ex = tje.make_extractor("mertcat", checkpoint=str(tmp_path))
    assert ex.checkpoint == str(tmp_path.resolve()) and ex.n_features == 3 * 32
    x = noise(12000)
    xn = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    with torch.no_grad():
        hs = ref(torch.tensor(xn[None], dtype=torch.float32), output_hidden_states=True).hidden_states
    expected = torch.cat([h.mean(dim=1) for h in hs], dim=1)[0].double().numpy()
    np.testing.assert_allclose(ex.features(x), expected, rtol=1e-5, atol=1e-6)

    cfg["deepnorm"] = True
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(deep.WeightsUnavailable, match="MERT extras"):
        tje.make_extractor("mertcat", checkpoint=str(tmp_path))


def test_clap_audio_branch_loads_from_a_full_clap_checkpoint(tmp_path):
    """laion/larger_clap_music is a ClapModel (text + audio): the audio branch is taken."""
    torch.manual_seed(4)
    full = transformers.ClapModel(transformers.ClapConfig(
        text_config=dict(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37),
        audio_config=small_config("clap").to_dict(), projection_dim=24)).eval()
    full.save_pretrained(tmp_path)
    transformers.ClapFeatureExtractor().save_pretrained(tmp_path)
    ex = tje.make_extractor("clap", checkpoint=str(tmp_path))
    x = noise(48000)
    inputs = transformers.ClapFeatureExtractor()([x], sampling_rate=48000, return_tensors="pt",
                                                 truncation="rand_trunc", padding="repeatpad")
    with torch.no_grad():
        expected = full.audio_model(input_features=inputs["input_features"]).pooler_output[0].double().numpy()
    np.testing.assert_allclose(ex.features(x), expected, rtol=1e-5, atol=1e-6)
    assert ex.n_features == 128  # pooled output, before the 24-d projection


def test_encodec_checkpoint_folder_roundtrip(tmp_path):
    torch.manual_seed(5)
    model = transformers.EncodecModel(small_config("encodec")).eval()
    model.save_pretrained(tmp_path)
    ex = tje.make_extractor("encodec", checkpoint=str(tmp_path))
    x = noise(24000)
    with torch.no_grad():
        expected = model.encoder(torch.tensor(x[None, None], dtype=torch.float32)).mean(-1)[0].double().numpy()
    np.testing.assert_allclose(ex.features(x), expected, rtol=1e-6)


def test_resampling_to_the_model_rate(fake_data):
    fake_data("Patil2012_GD4")
    ex = deep.Clap(config=small_config("clap"))
    seen = []
    original = ex.features_batch
    ex.features_batch = lambda xs: seen.extend(len(x) for x in xs) or original(xs)
    result = tje.extract_dataset(ex, "Patil2012_GD4", progress=False)
    assert seen == [12000] * 11  # 0.25 s at 44.1 kHz -> 48 kHz
    meta = store.load(result.path).metadata
    assert meta["checkpoint"] == "random-init" and meta["random_weights"] is True
    assert meta["sample_rate"] == 48000


def test_run_records_random_init(fake_data):
    fake_data("Patil2012_GD4")
    (path,) = tje.run("encodec", ["Patil2012_GD4"], checkpoint="random-init", progress=False)
    s = store.load(path)
    assert s.features.shape == (11, 128)
    assert np.mean(np.max(np.abs(s.features), axis=1)) == pytest.approx(1.0)
    assert s.metadata["checkpoint"] == "random-init" and s.metadata["random_weights"] is True
    assert s.metadata["parameters"]["hub_id"] == "facebook/encodec_24khz"
    assert s.metadata["versions"]["transformers"]
