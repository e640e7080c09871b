"""The representations computed by networks: ``deep`` (the paper's pretrained models,
EnCodec, CLAP and MERT, through transformers), ``crepe`` (a pitch network, a control) and
``embedder`` (a user's own function or HEAR module)."""
