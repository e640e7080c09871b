"""``stft``: time-averaged magnitude short-time Fourier transform (513 bins).

The audio is resampled to 16 kHz (see :mod:`timbre_jax.data.audio`), then analysed with a periodic Hann
window of 1024 samples (64 ms), hop 512 (32 ms), frames centred with zero padding of 512
samples at both ends.  The feature is the mean over frames of the magnitude ``|X[k, t]|``
for the 513 bins ``k = 0..512`` at ``k * 15.625`` Hz (0 Hz to 8 kHz).

The 16 kHz rate is inferred from the upstream features: for the Grey (1977) tones at
Eb4 (311 Hz) they peak at bin 20 (20 * 16000 / 1024 = 312.5 Hz); at 44.1 kHz the peak
would sit at bin 7.  No level normalisation is applied to the waveform.
"""

from __future__ import annotations

import numpy as np

from timbre_jax_extract.base import Extractor


class Stft(Extractor):
    name = "stft"
    sample_rate = 16000
    version = "1"
    n_fft = 1024
    hop = 512
    n_features = n_fft // 2 + 1
    layout = "frequency bin k = 0..512 (k * 15.625 Hz at 16 kHz)"
    libraries = ("numpy", "scipy", "torch")

    def parameters(self) -> dict:
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop": self.hop,
                "window": "hann (periodic)", "center": True, "pad_mode": "constant",
                "magnitude": "abs", "pooling": "mean over frames"}

    def spectrogram(self, x: np.ndarray) -> np.ndarray:
        """Magnitude STFT, (513, frames), float64."""
        import torch  # lazy: torch loads when a sound is analysed, not with the package

        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        window = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64)
        spec = torch.stft(t, self.n_fft, hop_length=self.hop, win_length=self.n_fft, window=window,
                          center=True, pad_mode="constant", return_complex=True)
        return spec.abs().numpy()

    def features(self, x: np.ndarray) -> np.ndarray:
        return self.spectrogram(x).mean(axis=1)
