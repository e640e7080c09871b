"""Deep embedders: EnCodec, CLAP (audio branch) and MERT, all through ``transformers``.

Weights: ``checkpoint=None`` loads the model's hub id from the local Hugging Face cache
(never downloading: ``huggingface-cli download <hub id>`` fills it); ``checkpoint=PATH`` (a folder saved with
``save_pretrained`` or a local snapshot of the hub repository) or another hub id loads
that instead; ``checkpoint="random-init"`` builds the real architecture with random
weights (``torch.manual_seed(0)``), for tests only, and is recorded as such in the
metadata.  Without weights and without ``random-init`` a :class:`WeightsUnavailable`
error tells the user to pass ``--checkpoint``.

- ``encodec``: ``facebook/encodec_24khz`` (:class:`transformers.EncodecModel`).  The
  24 kHz mono input goes through the SEANet encoder only (``model.encoder``): its output
  before residual vector quantisation is (128 channels, 75 frames/s); the feature is its
  time average (128).  The ``encodec`` pip package is not used: it needs torchaudio,
  which has no build matching torch 2.13 here, and its weights are CC-BY-NC.
- ``clap``: ``laion/larger_clap_music`` (LAION-CLAP "larger" checkpoint, HTSAT-base audio
  encoder) via :class:`transformers.ClapAudioModelWithProjection`.  48 kHz input, the
  checkpoint's :class:`~transformers.ClapFeatureExtractor` (64-band log-mel, 10 s window,
  ``repeatpad`` padding; ``rand_trunc`` truncation for non-fusion checkpoints, and
  sounds longer than 10 s are cut to their first 10 s so that nothing is random).  The
  feature is the audio encoder's pooled output **before** the projection head
  (``pooler_output`` of the HTSAT branch), 1024-d for HTSAT-base: the dimension of the
  paper's CLAP features (the projected, normalised embedding has 512).  The pooling over
  time and frequency is HTSAT's own.  ``laion-clap`` is not used: it pins numpy < 2,
  which jax cannot share an environment with.
- ``mertav`` / ``mertcat``: ``m-a-p/MERT-v1-95M`` loaded into
  :class:`transformers.HubertModel`.  The hub checkpoint ships custom code (``MERTModel``,
  ``trust_remote_code``) that subclasses transformers' HuBERT: the same convolutional
  feature encoder (``feature_extractor.*``), feature projection (``feature_projection.*``)
  and post-norm transformer encoder with convolutional positional embedding
  (``encoder.*``), under the same parameter names; its extras (a CQT front-end,
  DeepNorm, attention relaxation) are switched off in MERT-v1-95M's config.  So
  ``HubertModel.from_pretrained`` with that config.json loads every weight of the conv
  feature extractor and the transformer; the loader checks that no weight is missing and
  that the extras are off, and refuses the checkpoint otherwise.  Input: 24 kHz,
  zero-mean unit-variance normalised per sound (the checkpoint's
  ``Wav2Vec2FeatureExtractor``, ``do_normalize=True``).  The 13 hidden states (the
  transformer input and its 12 layers' outputs, 768-d, 75 frames/s) are averaged over
  time: ``mertcat`` concatenates them layer-major (``index = layer * 768 + d``, 9984
  values), ``mertav`` averages the 13 layers uniformly (768), or with the given
  per-layer ``layer_weights`` (normalised to sum 1).

Batches group sounds of equal length (no padding), so a batch gives the same result as
one sound at a time up to floating-point rounding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np

from timbre_jax.errors import TimbreJaxError
from timbre_jax_extract.base import Extractor

RANDOM_INIT = "random-init"


class WeightsUnavailable(TimbreJaxError, RuntimeError):
    """The pretrained weights cannot be found locally nor downloaded."""


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging  # lazy: transformers is an extra

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def checkpoint_fingerprint(checkpoint: str) -> str:
    """A short hash that changes when a local checkpoint's files change (names, sizes, mtimes)."""
    path = Path(checkpoint)
    h = hashlib.sha256(checkpoint.encode())
    if path.exists():
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in files:
            st = p.stat()
            h.update(f"{p.relative_to(path) if p != path else p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_pretrained(model_cls, hub_id: str, checkpoint: str | None, name: str):
    """``model_cls.from_pretrained`` on the checkpoint (a folder or a hub id) or on ``hub_id``,
    offline (``local_files_only``: the folder, or the Hugging Face cache), with a clear error
    if the weights are absent.  Returns ``(model, loading_info, source)``.
    """
    source = checkpoint or hub_id
    local = Path(source).expanduser()
    if local.exists():
        source = str(local.resolve())
    elif source.startswith(("/", ".", "~")) or source.count("/") > 1 or "\\" in source:
        raise WeightsUnavailable(f"{name}: checkpoint folder {source!r} does not exist")
    try:
        with _quiet_transformers():
            model, info = model_cls.from_pretrained(source, output_loading_info=True, local_files_only=True)
        return model, info, source
    except Exception as e:  # OSError, EnvironmentError, ValueError from a broken folder, ...
        first = str(e).splitlines()[0] if str(e) else ""
        where = "that folder" if local.exists() else "the local Hugging Face cache"
        raise WeightsUnavailable(
            f"{name}: cannot load weights {source!r} from {where} ({type(e).__name__}: {first}). "
            f"Fetch the checkpoint on a machine with internet access (`huggingface-cli download {hub_id}` "
            f"fills the cache; `--local-dir DIR` gives a folder), then pass --checkpoint DIR (or rerun "
            f"without it once the cache holds {hub_id}); --checkpoint random-init runs the architecture "
            f"with random weights, for tests only: such features mean nothing."
        ) from None


class DeepExtractor(Extractor):
    """Shared loading, batching and metadata of the transformers-based embedders."""

    hub_id: str = ""
    libraries = ("numpy", "scipy", "torch", "transformers")

    def __init__(self, *, checkpoint: str | None = None, device: str = "cpu", config=None,
                 batch_size: int = 8):
        import torch  # lazy: torch loads with a model, not with the package

        self.device = device
        self.batch_size = batch_size
        if checkpoint == RANDOM_INIT or config is not None:
            torch.manual_seed(0)
            self.config = config if config is not None else self.default_config()
            with _quiet_transformers():
                self.model = self.model_class()(self.config)
            self.checkpoint = RANDOM_INIT
            self._fingerprint = hashlib.sha256(
                json.dumps(self.config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]
            self.source = None
        else:
            self.model, info, self.source = load_pretrained(self.model_class(), self.hub_id, checkpoint, self.name)
            self.check_loading(info)
            self.config = self.model.config
            commit = getattr(self.config, "_commit_hash", None)
            self.checkpoint = self.source if not commit else f"{self.source}@{commit}"
            self._fingerprint = checkpoint_fingerprint(self.source) + (commit or "")
        self.model.eval().to(device)
        self.setup()

    # hooks --------------------------------------------------------------------------------
    def model_class(self):
        raise NotImplementedError

    def default_config(self):
        raise NotImplementedError

    def check_loading(self, info: dict) -> None:
        missing = [k for k in info.get("missing_keys", []) if "masked_spec_embed" not in k]
        if missing:
            raise WeightsUnavailable(
                f"{self.name}: checkpoint {self.source!r} lacks {len(missing)} weights of "
                f"{self.model_class().__name__} (e.g. {missing[:3]}); it is not a {self.hub_id}-like checkpoint")

    def setup(self) -> None:
        pass

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """(B, samples) float64 at ``sample_rate`` -> (B, n_features) float64."""
        raise NotImplementedError

    # extractor API --------------------------------------------------------------------------
    def parameters(self) -> dict:
        return {"sample_rate": self.sample_rate, "hub_id": self.hub_id, "checkpoint": self.checkpoint,
                "weights_fingerprint": self._fingerprint, "model_class": self.model_class().__name__,
                **self.extra_parameters()}

    def extra_parameters(self) -> dict:
        return {}

    def features(self, x: np.ndarray) -> np.ndarray:
        return self.features_batch([x])[0]

    def features_batch(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        import torch  # lazy: torch loads with a model, not with the package

        out: list[np.ndarray | None] = [None] * len(xs)
        by_length: dict[int, list[int]] = {}
        for i, x in enumerate(xs):
            by_length.setdefault(len(x), []).append(i)
        with torch.no_grad():
            for idx in by_length.values():
                for start in range(0, len(idx), self.batch_size):
                    part = idx[start:start + self.batch_size]
                    feats = self.embed(np.stack([np.asarray(xs[i], dtype=np.float64) for i in part]))
                    for i, f in zip(part, feats):
                        out[i] = np.asarray(f, dtype=np.float64)
        return out  # type: ignore[return-value]


class Encodec(DeepExtractor):
    name = "encodec"
    hub_id = "facebook/encodec_24khz"
    sample_rate = 24000
    version = "1"
    n_features = 128
    layout = "EnCodec encoder channel c = 0..127 (pre-quantisation latent), mean over frames"

    def model_class(self):
        from transformers import EncodecModel  # lazy: transformers is an extra

        return EncodecModel

    def default_config(self):
        from transformers import EncodecConfig  # lazy: transformers is an extra

        return EncodecConfig()  # the defaults are facebook/encodec_24khz's architecture

    def setup(self):
        self.sample_rate = int(self.config.sampling_rate)
        self.n_features = int(self.config.hidden_size)

    def extra_parameters(self):
        return {"layer": "encoder output before quantisation", "pooling": "mean over frames",
                "normalize": bool(self.config.normalize)}

    def embed(self, batch):
        import torch  # lazy: torch loads with a model, not with the package

        x = torch.as_tensor(batch, dtype=torch.float32, device=self.device)[:, None, :]
        if self.config.normalize:  # as EncodecModel._encode_frame does for the 48 kHz model
            x = x / (x.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8)
        emb = self.model.encoder(x)  # (B, 128, frames)
        return emb.mean(dim=-1).double().cpu().numpy()


class Clap(DeepExtractor):
    name = "clap"
    hub_id = "laion/larger_clap_music"
    sample_rate = 48000
    version = "1"
    n_features = 1024
    layout = "HTSAT audio encoder pooled output (before the projection head), 1024-d"
    max_seconds = 10.0

    def model_class(self):
        from transformers import ClapAudioModelWithProjection  # lazy: transformers is an extra

        return ClapAudioModelWithProjection

    def default_config(self):
        from transformers import ClapAudioConfig  # lazy: transformers is an extra

        # LAION-CLAP's HTSAT-base (the "larger" checkpoints): 128-d patch embedding doubled
        # over 4 stages -> 1024, depths (2, 2, 12, 2); no fusion.
        return ClapAudioConfig(patch_embeds_hidden_size=128, hidden_size=1024, depths=[2, 2, 12, 2],
                               num_attention_heads=[4, 8, 16, 32], enable_fusion=False, projection_dim=512)

    def setup(self):
        from transformers import ClapFeatureExtractor  # lazy: transformers is an extra

        fe = None
        if self.source is not None:
            with contextlib.suppress(Exception), _quiet_transformers():
                fe = ClapFeatureExtractor.from_pretrained(self.source, local_files_only=True)
        self.feature_extractor = fe or ClapFeatureExtractor()
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.n_features = int(self.model.config.hidden_size)
        self.fusion = bool(self.model.config.enable_fusion)

    def extra_parameters(self):
        return {"layer": "audio_model pooler_output (before audio_projection)",
                "truncation": "fusion" if self.fusion else "rand_trunc", "padding": "repeatpad",
                "max_seconds": self.max_seconds}

    def embed(self, batch):

        batch = batch[:, : int(self.max_seconds * self.sample_rate)]
        inputs = self.feature_extractor(list(batch), sampling_rate=self.sample_rate, return_tensors="pt",
                                        truncation="fusion" if self.fusion else "rand_trunc",
                                        padding="repeatpad")
        kwargs = {"input_features": inputs["input_features"].to(self.device)}
        if "is_longer" in inputs:
            kwargs["is_longer"] = inputs["is_longer"].to(self.device)
        out = self.model.audio_model(**kwargs)
        return out.pooler_output.double().cpu().numpy()


class _Mert(DeepExtractor):
    hub_id = "m-a-p/MERT-v1-95M"
    sample_rate = 24000
    version = "1"

    def model_class(self):
        from transformers import HubertModel  # lazy: transformers is an extra

        return HubertModel

    def default_config(self):
        from transformers import HubertConfig  # lazy: transformers is an extra

        # MERT-v1-95M: HuBERT-base sized (12 layers, 768-d, 7 conv layers), 24 kHz input.
        return HubertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                            intermediate_size=3072, feat_extract_norm="group", do_stable_layer_norm=False)

    def check_loading(self, info):
        super().check_loading(info)
        cfg = self.model.config
        extras = {k: getattr(cfg, k, None) for k in ("feature_extractor_cqt", "deepnorm")}
        relax = getattr(cfg, "attention_relax", -1.0)
        if any(extras.values()) or (relax is not None and relax > 0):
            raise WeightsUnavailable(
                f"{self.name}: checkpoint {self.source!r} enables MERT extras ({extras}, attention_relax="
                f"{relax}) that HubertModel does not implement; use a MERT-v1 checkpoint without them")

    def setup(self):
        from transformers import Wav2Vec2FeatureExtractor  # lazy: transformers is an extra

        fe = None
        if self.source is not None:
            with contextlib.suppress(Exception), _quiet_transformers():
                fe = Wav2Vec2FeatureExtractor.from_pretrained(self.source, local_files_only=True)
        self.feature_extractor = fe or Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=self.sample_rate, padding_value=0.0, do_normalize=True,
            return_attention_mask=True)
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.n_layers = int(self.model.config.num_hidden_layers) + 1
        self.width = int(self.model.config.hidden_size)

    def hidden_states(self, batch):
        """(B, layers, width): the time-averaged hidden states."""
        import torch  # lazy: torch loads with a model, not with the package

        inputs = self.feature_extractor(list(batch), sampling_rate=self.sample_rate, return_tensors="pt")
        out = self.model(inputs["input_values"].to(self.device), output_hidden_states=True)
        return torch.stack([h.mean(dim=1) for h in out.hidden_states], dim=1).double().cpu().numpy()

    def extra_parameters(self):
        return {"normalize": bool(self.feature_extractor.do_normalize), "n_layers": self.n_layers,
                "layers": "hidden_states[0..12]: transformer input + 12 layer outputs",
                "pooling": "mean over frames"}


class MertCat(_Mert):
    name = "mertcat"
    n_features = 13 * 768
    layout = "13 MERT hidden states x 768, layer-major: index = layer * 768 + d (layer 0 = transformer input)"

    def setup(self):
        super().setup()
        self.n_features = self.n_layers * self.width

    def embed(self, batch):
        h = self.hidden_states(batch)
        return h.reshape(len(h), -1)


class MertAv(_Mert):
    name = "mertav"
    n_features = 768
    layout = "768-d MERT hidden state averaged over time and over the 13 layers (uniform weights by default)"

    def __init__(self, *, layer_weights=None, **kwargs):
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]
        super().__init__(**kwargs)

    def setup(self):
        super().setup()
        self.n_features = self.width
        w = np.ones(self.n_layers) if self.layer_weights is None else np.asarray(self.layer_weights, float)
        if w.shape != (self.n_layers,) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValueError(f"mertav: layer_weights must be {self.n_layers} finite values with a positive sum")
        self.weights = w / w.sum()

    def extra_parameters(self):
        return {**super().extra_parameters(), "layer_weights": self.weights.tolist()}

    def embed(self, batch):
        return np.einsum("bld,l->bd", self.hidden_states(batch), self.weights)
