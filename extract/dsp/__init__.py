"""The signal-processing representations: ``stft``, ``cochlea`` (the auditory
spectrogram), ``stmf`` (its spectro-temporal modulations) and ``scattering`` (joint
time-frequency scattering).  Each module holds one :class:`~timbre_jax_extract.base.Extractor`
and, in its docstring, the maths and where it departs from the upstream features."""
