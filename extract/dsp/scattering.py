"""``scattering``: time-averaged joint time-frequency scattering (JTFS).

The installed kymatio (0.3) has no joint time-frequency scattering, so the transform of
Andén, Lostanlen & Mallat (2019) is built here in torch on kymatio's Morlet filters
(:func:`kymatio.scattering1d.filter_bank.morlet_1d` and
:func:`~kymatio.scattering1d.filter_bank.compute_params_filterbank`), with global
averaging over time:

- **input**: 16 kHz mono, zero-padded to a power of two at least ``2**(J+1)`` samples
  longer than the sound (no circular wrap);
- **first order** (``n1`` values): ``S1(l1) = <|x * psi_l1|>`` for the Morlet filter bank
  with ``Q1 = 8`` filters per octave and ``J = 12`` (``2**12`` samples = 256 ms), i.e.
  kymatio's constant-Q filters from 6.96 kHz down to ~7 Hz plus its ``Q1 - 1``
  constant-bandwidth filters below: ``n1 = 86``;
- **second order, joint** (``n2 * (1 + 2 * n_fr) * n_f`` values): the first-order
  scalogram ``U1(t, l1) = |x * psi_l1|(t)`` is convolved in time with the second-order
  Morlet filters ``psi_l2`` (``Q2 = 2``, same ``J``; of kymatio's 25 filters from 5.6 kHz
  down to 1 Hz, the 5 centred above ``3 * max(sigma1)`` = 1.09 kHz, where the first-order
  envelopes carry < 0.5 % of the energy, are left out: ``n2 = 20``, 990 Hz .. 1 Hz) and
  along the log-frequency axis ``l1`` (index of the first-order filter) with
  frequential Morlet filters ``psi_fr`` (``Q_fr = 2``, ``J_fr = 3``: ``n_fr = 7`` filters)
  of both spins (``+1``: the filter, ``-1``: its mirror image, upward vs downward
  spectro-temporal motion) plus the frequential low-pass ``phi_fr`` (spin 0, width
  ``2**J_fr`` bins), giving ``1 + 2 * n_fr = 15`` frequential paths.  The joint stage runs in complex64.  The modulus is
  averaged over time, then over log-frequency with ``phi_fr`` and sub-sampled by
  ``2**J_fr = 8`` along ``l1``: ``n_f = ceil(86 / 8) = 11`` log-frequency positions.

Dimension: ``86 + 20 * 15 * 11 = 3386`` (the upstream pickles have 2204; their exact
JTFS configuration is not published, see extract/README.md).  Layout: first the 86
first-order coefficients (``l1 = 0`` the highest frequency, as kymatio orders them), then
the joint coefficients in C order of ``(l2, path, f)`` with ``l2`` the second-order filter
(highest modulation frequency first), ``path`` = ``[phi_fr, psi_fr_0 spin +1, ...,
psi_fr_6 spin +1, psi_fr_0 spin -1, ..., psi_fr_6 spin -1]`` (``psi_fr_0`` the finest) and
``f`` the log-frequency position (0 = highest acoustic frequency).  The zeroth order
(the mean of the waveform, a DC offset) is left out.

"Time average" means the sum over all samples (including the filters' tails in the
padding) divided by the sound's length.  Second-order outputs are computed on a
decimated grid: each analytic band ``U1 * psi_l2`` keeps only the first ``K`` Fourier bins
that hold it (``K`` a power of two), which is exact up to the filters' negligible tails.
"""

from __future__ import annotations

import math

import numpy as np

from timbre_jax_extract.base import Extractor


def _next_pow2(n: int) -> int:
    return 1 << (max(int(n), 1) - 1).bit_length()


class Scattering(Extractor):
    name = "scattering"
    sample_rate = 16000
    version = "1"
    libraries = ("numpy", "scipy", "torch", "kymatio")

    def __init__(self, *, J: int = 12, Q1: int = 8, Q2: int = 2, J_fr: int = 3, Q_fr: int = 2,
                 sigma0: float = 0.1, alpha: float = 5.0, chunk: int = 4096):
        from kymatio.scattering1d.filter_bank import compute_params_filterbank  # lazy: kymatio is an extra

        self.J, self.Q1, self.Q2, self.J_fr, self.Q_fr = J, Q1, Q2, J_fr, Q_fr
        self.sigma0, self.alpha, self.chunk = sigma0, alpha, chunk
        self.xi1, self.sigma1, _ = compute_params_filterbank(sigma0 / 2**J, Q1, alpha)
        xi2, sigma2, _ = compute_params_filterbank(sigma0 / 2**J, Q2, alpha)
        # |x * psi_l1| carries (almost) no energy above a few first-order bandwidths:
        # second-order filters centred above 3 * max(sigma1) are left out (kymatio's
        # time scattering likewise drops paths with xi2 >= xi1).
        self.xi2_max = 3 * max(self.sigma1)
        keep = [i for i, xi in enumerate(xi2) if xi <= self.xi2_max]
        self.xi2, self.sigma2 = [xi2[i] for i in keep], [sigma2[i] for i in keep]
        self.xi_fr, self.sigma_fr, _ = compute_params_filterbank(sigma0 / 2**J_fr, Q_fr, alpha)
        self.n1, self.n2, self.n_fr = len(self.xi1), len(self.xi2), len(self.xi_fr)
        self.n_paths = 1 + 2 * self.n_fr
        self.n_f = math.ceil(self.n1 / 2**J_fr)
        self.n_features = self.n1 + self.n2 * self.n_paths * self.n_f
        self.layout = (f"[S1: {self.n1} first-order filters, highest frequency first] + "
                       f"[joint: ({self.n2} l2, {self.n_paths} paths [phi_fr, {self.n_fr} spin+1, "
                       f"{self.n_fr} spin-1], {self.n_f} log-frequency positions) in C order]")
        self._fr_bank = self._frequential_bank()
        self._filters: dict[int, tuple] = {}

    def parameters(self) -> dict:
        return {"sample_rate": self.sample_rate, "J": self.J, "Q1": self.Q1, "Q2": self.Q2,
                "J_fr": self.J_fr, "Q_fr": self.Q_fr, "sigma0": self.sigma0, "alpha": self.alpha,
                "filters": "kymatio morlet_1d / compute_params_filterbank",
                "frequential_averaging": f"phi_fr, subsampled by {2 ** self.J_fr}",
                "pooling": "sum over time / length", "zeroth_order": False,
                "xi2_max": "3 * max(sigma1)", "n1": self.n1, "n2": self.n2, "n_fr": self.n_fr,
                "joint_dtype": "complex64"}

    # -- filters -------------------------------------------------------------------------
    def _frequential_bank(self) -> np.ndarray:
        """(n_paths, N_fr) Fourier responses along l1: phi, spin +1 wavelets, spin -1 mirrors."""
        from kymatio.scattering1d.filter_bank import gauss_1d, morlet_1d  # lazy: kymatio is an extra

        # Zero padding along l1 of 3 standard deviations of phi_fr (the widest filter).
        width = 3.0 / (2 * math.pi * (self.sigma0 / 2**self.J_fr))
        n = _next_pow2(self.n1 + math.ceil(width))
        phi = gauss_1d(n, self.sigma0 / 2**self.J_fr)
        up = [morlet_1d(n, xi, s) for xi, s in zip(self.xi_fr, self.sigma_fr)]
        down = [np.roll(h[::-1], 1) for h in up]  # h(-k): the mirror image
        return np.stack([phi] + up + down)

    def _time_filters(self, n: int) -> tuple:
        """First- and second-order Fourier responses for a padded length ``n`` (memoised)."""
        import torch  # lazy: torch loads when a sound is analysed, not with the package
        from kymatio.scattering1d.filter_bank import morlet_1d  # lazy: kymatio is an extra

        if n not in self._filters:
            psi1 = torch.as_tensor(np.stack([morlet_1d(n, xi, s) for xi, s in zip(self.xi1, self.sigma1)]))
            psi2 = []
            for xi, sigma in zip(self.xi2, self.sigma2):
                k = min(n, _next_pow2(math.ceil((xi + 4 * sigma) * n)))
                psi2.append(torch.as_tensor(morlet_1d(n, xi, sigma)[:k]))
            self._filters = {n: (psi1, psi2)}  # keep one size: lengths repeat within a dataset
        return self._filters[n]

    # -- transform -----------------------------------------------------------------------
    def features(self, x: np.ndarray) -> np.ndarray:
        import torch  # lazy: torch loads when a sound is analysed, not with the package
        from kymatio.scattering1d.filter_bank import gauss_1d  # lazy: kymatio is an extra

        x = np.asarray(x, dtype=np.float64)
        length = len(x)
        n = _next_pow2(length + 2 ** (self.J + 1))
        xf = torch.fft.fft(torch.as_tensor(np.concatenate([x, np.zeros(n - length)])))
        psi1, psi2s = self._time_filters(n)
        u1 = torch.fft.ifft(xf[None] * psi1).abs()  # (n1, n) real
        s1 = u1.sum(dim=1) / length
        u1f = torch.fft.fft(u1)  # (n1, n)
        del u1

        n_fr = self._fr_bank.shape[1]
        bank_fr = torch.as_tensor(self._fr_bank).to(torch.complex64)  # (P, n_fr)
        joint = torch.zeros((self.n2, self.n_paths, self.n1), dtype=torch.float64)
        for i, psi2 in enumerate(psi2s):
            k = len(psi2)
            y = (torch.fft.ifft(u1f[:, :k] * psi2[None], dim=1) * (k / n)).to(torch.complex64)
            acc = torch.zeros((self.n_paths, self.n1), dtype=torch.float64)
            for start in range(0, k, self.chunk):
                block = y[:, start:start + self.chunk]  # (n1, c)
                bf = torch.fft.fft(block, n=n_fr, dim=0)  # along l1
                z = torch.fft.ifft(bf[None] * bank_fr[:, :, None], dim=1)[:, : self.n1, :]
                acc += z.abs().sum(dim=2, dtype=torch.float64)
            joint[i] = acc * (n / k) / length
        # Frequential averaging with phi_fr, sub-sampled by 2**J_fr along l1.
        phi = torch.as_tensor(gauss_1d(n_fr, self.sigma0 / 2**self.J_fr))
        sm = torch.fft.ifft(torch.fft.fft(joint, n=n_fr, dim=2) * phi, dim=2).real[..., : self.n1]
        sm = sm[..., :: 2**self.J_fr]
        return np.concatenate([s1.numpy(), sm.reshape(-1).numpy()])
