"""What every solver solves and returns: groups of problems that share a pair-difference
matrix, packed into padded arrays for one compiled call.

A :class:`Group` is ``K`` problems on one dataset in one representation: the matrix
``D = (Psi_i - Psi_j)^2`` (p, n) and ``K`` rating vectors with their masks (K, p), which
differ by noise (the robustness sweep), by a relabelling of the sounds (the permutation
null) or by the pairs held out (cross-validation); a single fit is a group with K = 1.
A solver (:mod:`timbre_jax.solvers`) takes a sequence of groups, a *batch*, and returns
one :class:`Results` per group.

Packing (:func:`pack`) pads the pair axis to a shape the solver asks for (zero rows,
masked out) and each group's problems to the largest ``K`` (repeating its first one, so
that every padded problem is well posed); :func:`unpack` cuts the padding off again.

A group of many problems can be cut into pieces (:func:`cut`, :func:`piece`) that are
solved and saved one by one, so that an interrupted run keeps all but the piece it was
solving; :func:`joined` puts their results back together, bit for bit those of the
uncut group where the problems run in sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import jax
import numpy as np

from timbre_jax.errors import UsageError


@dataclass(frozen=True)
class Group:
    """K problems on one dataset: D (p, n); ratings and mask (K, p), mask 1 = rated.

    ``name`` labels the group in messages and in the fingerprints of saved runs;
    ``offset``: where its first problem stands among the problems of the group it was cut
    from (:func:`piece`), so that a seed that counts problems counts them as in the uncut
    group."""

    D: np.ndarray
    ratings: np.ndarray
    mask: np.ndarray
    name: str = ""
    offset: int = 0

    @property
    def K(self) -> int:
        return self.ratings.shape[0]


@dataclass(frozen=True)
class Results:
    """The fits of one :class:`Group`.

    weights (K, n): the learned w; distances (K, p): ``d = D w^-2`` for every pair of the
    group (rated or not), from which any ratings can be scored; pearson (K,): P of ``d``
    with the fitted ratings over the fitted mask; iterations, status (K,): the solver's
    own counts and codes, ``messages`` (K,) their text; converged (K,): the solver's
    verdict that the fit ended regularly; certified (K,): the global optimality of the
    fit was verified (only a solver that can verify it sets it); start (K,): which start
    gave the fit (0: the first); degenerate_start (K,): the start had every weight
    equal (see :func:`timbre_jax.optim.starts.degenerate_start`)."""

    weights: np.ndarray
    distances: np.ndarray
    pearson: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    messages: np.ndarray
    converged: np.ndarray
    certified: np.ndarray
    start: np.ndarray = field(default=None)  # type: ignore[assignment]
    degenerate_start: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        K = len(self.pearson)
        if self.start is None:
            object.__setattr__(self, "start", np.zeros(K, dtype=np.int64))
        if self.degenerate_start is None:
            object.__setattr__(self, "degenerate_start", np.zeros(K, dtype=bool))

    def first(self, k: int) -> Results:
        """The results of the first ``k`` problems (a piece's own, its padding dropped)."""
        return Results(**{f.name: getattr(self, f.name)[:k] for f in fields(self)})


def padded_pairs(p: int) -> int:
    """Pair axis length used for p pairs: the next power of two.  The batch-invariant sums
    pad to it anyway, and fewer distinct shapes mean fewer compilations."""
    return 1 << max(p - 1, 0).bit_length()


def pack(groups, pairs: int, starts=None):
    """Pad ``groups`` into arrays for one compiled call.

    ``pairs``: the pair axis length (at least every group's p).  ``starts``: one (K_g, n)
    array per group or None.  Returns D (G, pairs, n), ratings and mask (G, K, pairs) and
    starts (G, K, n) or None, K = max K_g; rows past K_g repeat the group's first problem."""
    G, K, n = len(groups), max(g.K for g in groups), groups[0].D.shape[1]
    D = np.zeros((G, pairs, n))
    s = np.zeros((G, K, pairs))
    m = np.zeros((G, K, pairs))
    w0 = None if starts is None else np.zeros((G, K, n))
    for i, g in enumerate(groups):
        pg, kg = g.D.shape[0], g.K
        D[i, :pg], s[i, :kg, :pg], m[i, :kg, :pg] = g.D, g.ratings, g.mask
        s[i, kg:, :pg], m[i, kg:, :pg] = g.ratings[0], g.mask[0]
        if w0 is not None:
            w0[i, :kg], w0[i, kg:] = starts[i], starts[i][0]
    return D, s, m, w0


def messages_of(status: np.ndarray, Status) -> np.ndarray:
    """The message of each code of ``status`` (any shape) in the solver's enum ``Status``
    ("UNKNOWN" for a code it lacks), as an object array of the same shape."""
    known = Status._value2member_map_
    return np.array([Status(int(c)).message if int(c) in known else "UNKNOWN" for c in np.ravel(status)],
                    dtype=object).reshape(np.shape(status))


def unpack(groups, weights, pearson, iterations, status, Status, **extra) -> list[Results]:
    """One :class:`Results` per group from the padded outputs of a solve.

    ``weights`` (G, K, n) and ``pearson``, ``iterations``, ``status`` (G, K): the
    outputs of the solve (padding included); the distances ``D w^-2`` come from each
    group's own D;
    ``Status``: the solver's status enum (``message`` per member, ``converged``);
    ``extra``: further (G, K) arrays for :class:`Results` (``certified``, ``start``,
    ``degenerate_start``)."""
    weights, pearson, iterations, status = (np.array(a) for a in (weights, pearson, iterations, status))
    messages = messages_of(status, Status)
    converged = np.asarray(Status.converged(status, iterations)) & np.isfinite(pearson)
    certified = extra.pop("certified", np.zeros(status.shape, dtype=bool))
    out = []
    for i, g in enumerate(groups):
        k = g.K
        out.append(Results(weights[i, :k], pair_distances(weights[i, :k], g.D), pearson[i, :k], iterations[i, :k],
                           status[i, :k], messages[i, :k], converged[i, :k],
                           np.asarray(certified)[i, :k] & converged[i, :k],
                           **{name: np.asarray(a)[i, :k] for name, a in extra.items()}))
    return out


def pair_distances(weights: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``d = D w^-2`` of every pair for each row of ``weights``: (K, n), D (p, n) -> (K, p).

    One matrix product, whose rounding depends on its number of rows K: the distances of a
    group are computed over the whole group, solved whole or in pieces (:func:`joined`)."""
    return weights ** -2.0 @ np.asarray(D).T


def cut(K: int, most: int | None) -> list[tuple[int, int]]:
    """The problems 0 .. K - 1 of a group in pieces of at most ``most`` problems (None:
    one piece), as (start, stop) ranges.  The pieces are as even as whole pieces allow, and
    :func:`piece` pads the last to the size of the first, so every piece has one shape (one
    compilation).  A function of K and ``most`` only: a re-run cuts the same pieces."""
    if most is None or K <= most:
        return [(0, K)]
    size = -(-K // -(-K // most))  # ceil(K / the fewest pieces of at most ``most``)
    return [(start, min(start + size, K)) for start in range(0, K, size)]


def piece(group: Group, start: int, stop: int, size: int) -> Group:
    """Problems ``start`` .. ``stop - 1`` of ``group`` as a group of ``size`` problems:
    rows past its own repeat its first problem, as :func:`pack` pads (their fits are
    dropped with :meth:`Results.first`)."""
    rows = np.r_[start:stop, np.full(size - (stop - start), start)]
    return Group(group.D, group.ratings[rows], group.mask[rows], group.name, group.offset + start)


def joined(group: Group, pieces: list[Results]) -> Results:
    """The results of ``group`` from those of its pieces, in order (:func:`cut`): each
    field put end to end, and the distances of the fits from the first start computed
    again over the whole group (:func:`pair_distances`), as an uncut solve computes them
    (a fit from a later start keeps its own, computed alone in either case).  In
    sequence, where every problem is solved alone, the group's numbers are then bit for
    bit those of one uncut solve."""
    if len(pieces) == 1:
        return pieces[0]
    whole = {f.name: np.concatenate([getattr(r, f.name) for r in pieces]) for f in fields(Results)}
    first_start = whole["start"] == 0
    whole["distances"][first_start] = pair_distances(whole["weights"], group.D)[first_start]
    return Results(**whole)


def chunk_size(p: int, n: int, K: int, per_problem: float, budget_bytes: float | None = None) -> int:
    """How many groups of K problems fit the memory budget: D (p n) plus ``per_problem``
    float64 numbers of working memory for each problem (a solver's own estimate)."""
    if budget_bytes is None:
        budget_bytes = memory_budget()
    per_group = 8 * (p * n + K * per_problem)
    return max(1, int(budget_bytes // per_group))


def memory_budget() -> float:
    """Bytes one chunk of a batched solve may use: half the free memory of the first
    device, or 2 GB on a host that does not say (a 24 GB machine stays comfortable)."""
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return 0.5 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return 2e9


def default_lockstep() -> bool:
    """Whether problems run in lockstep (``vmap``) by default: yes on accelerators, no on
    the CPU.  A vmapped ``while_loop`` iterates until the slowest problem has finished and
    evaluates both sides of every branch for all problems; on a GPU that is the price of
    filling the device, on a CPU it only multiplies the work (measured on 2 cores, Table I
    cochlea with L-BFGS-B: 15.3 s in lockstep, about 2 s in sequence)."""
    return jax.default_backend() != "cpu"


def over(f, xs: tuple, lockstep: bool, in_axes: tuple):
    """Apply ``f`` over the leading axis of the arguments ``xs`` whose ``in_axes`` is 0
    (those with None are shared): vmapped (lockstep), or one after the other inside the
    same compiled program (``lax.map``, sequence)."""
    if lockstep:
        return jax.vmap(f, in_axes=in_axes)(*xs)
    mapped = tuple(x if a == 0 else None for x, a in zip(xs, in_axes))
    return jax.lax.map(lambda m: f(*(x if a is None else mi for x, a, mi in zip(xs, in_axes, m))), mapped)


def require_float64() -> None:
    """Raise unless JAX computes in float64: ``import timbre_jax`` switches it on, so this
    fails only when other code switched it off afterwards (the weights span 1 to 1e15, and
    in float32 the reward's gradient keeps no correct digit)."""
    if not jax.config.jax_enable_x64:
        raise UsageError("JAX's float64 is off (jax_enable_x64 = False), and the fits need it: "
                         "call jax.config.update('jax_enable_x64', True) before fitting")
