"""Spread the problem-group axis of a batched solve over every visible JAX device.

On one host, ``jax.devices()`` lists its GPUs (or, for testing, the CPU split with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``).  Groups are padded to a multiple
of the device count by repeating the last group, placed with a ``NamedSharding`` along
that axis, and inside the jit-compiled solve :func:`per_device` hands each device its own
groups (``shard_map``): every device runs its own solver loop with no communication.  Across
hosts, each process (:mod:`timbre_jax.fit.processes`) solves its own chunks of groups on its
own devices (``jax.local_devices()``).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def pad_to_devices(*arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Pad axis 0 of each array to a multiple of the device count; returns (arrays, G)."""
    G = arrays[0].shape[0]
    n = jax.local_device_count()
    extra = (-G) % n
    if extra:
        arrays = tuple(np.concatenate([a, np.repeat(a[-1:], extra, axis=0)]) for a in arrays)
    return list(arrays), G


def mesh() -> Mesh:
    """This process's devices on one axis, "groups"."""
    return Mesh(np.array(jax.local_devices()), ("groups",))


def per_device(f, *arrays):
    """``f(*arrays)`` with axis 0 of every array (and of every output) split over the
    devices, each device computing ``f`` on its own slice; ``f`` itself on one device."""
    if jax.local_device_count() == 1:
        return f(*arrays)
    spec = PartitionSpec("groups")
    return jax.shard_map(f, mesh=mesh(), in_specs=(spec,) * len(arrays), out_specs=spec, check_vma=False)(*arrays)


def place(*arrays: np.ndarray):
    """Put each array on the devices, split along axis 0 (replicated-free)."""
    if jax.local_device_count() == 1:
        return [jax.numpy.asarray(a) for a in arrays]
    sharding = NamedSharding(mesh(), PartitionSpec("groups"))
    return [jax.device_put(a, sharding) for a in arrays]
