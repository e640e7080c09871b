"""The algorithms, pure and jit/vmap-friendly: L-BFGS-B, the exact optimum (lockstep JAX and host
NumPy), NNLS, starts."""
