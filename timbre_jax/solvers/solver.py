"""The protocol every solver follows, and the register of solvers by name.

A solver is a frozen dataclass whose fields are its options (hashable: it can be a
static argument of ``jax.jit`` and part of the fingerprint of a saved run).  It has

- ``name``: the word that selects it at the command line (``--solver NAME``);
- ``Status``: its results enum (a :class:`~timbre_jax.core.status.StatusCode`: a message per
  member and ``converged(status, iterations)``);
- ``solve(batch) -> list[Results]``: fit every problem of every group of the batch
  (:mod:`timbre_jax.solvers.batch`), one :class:`~timbre_jax.solvers.batch.Results` per group;
- ``per_problem_memory(p, n)``: float64 numbers of working memory one problem needs,
  for sizing chunks.

Subclassing :class:`Solver` registers the class under its ``name``; a module in this
package is imported with the package, so a new solver is one new file here.  Strings
become solvers only at the command line, through :func:`named`.

:data:`DEFAULT` names the solver of every fit that names none (:func:`default`): the
certified global optimum, ``exact``; the paper's L-BFGS-B (``lbfgsb``) is chosen by name,
to reproduce the paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from timbre_jax.errors import UsageError

_REGISTER: dict[str, type[Solver]] = {}

# The solver of a fit that names none, in the library and at the command line alike: the
# certified optimum is trusted on any study; the paper's fit is asked for by name.
DEFAULT = "exact"


@dataclass(frozen=True)
class Solver:
    """Base of the solvers: subclasses are frozen dataclasses with ``name``, ``Status``
    and ``solve``."""

    name: ClassVar[str] = ""
    Status: ClassVar[type]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            _REGISTER[cls.name] = cls

    def solve(self, batch) -> list:
        """One :class:`~timbre_jax.solvers.batch.Results` per group of ``batch``."""
        raise NotImplementedError

    def per_problem_memory(self, p: int, n: int) -> float:
        """float64 numbers of working memory per problem of p pairs and n features."""
        return 40.0 * n + 4.0 * p

    def problems_per_chunk(self, p: int, n: int) -> int | None:
        """Where problems run in sequence (the CPU), the most problems of p pairs and n
        features that one saved chunk of a sweep holds (:func:`timbre_jax.fit.sweep.plan_chunks`),
        so that a chunk takes seconds and an interrupt loses little; None, the default:
        whole groups (a solver whose fits take milliseconds, or whose numbers depend on
        the problems solved together)."""
        return None

    @property
    def settings(self) -> dict:
        """The name and every option: what a saved result must match to be reused."""
        return {"solver": self.name, **asdict(self)}


def available() -> dict[str, type[Solver]]:
    """Every registered solver class by name."""
    return dict(_REGISTER)


def unregister(name: str) -> None:
    """Forget the solver ``name`` (nothing if it is not registered): for code, such as a
    test, that defines a solver for a while."""
    _REGISTER.pop(name, None)


def options_of(name: str) -> list[str]:
    """The option names (dataclass fields) of the solver ``name``."""
    return [f.name for f in fields(_class(name))]


def _class(name: str) -> type[Solver]:
    if name not in _REGISTER:
        raise UsageError(f"unknown solver {name!r}; choose from {', '.join(_REGISTER)}")
    return _REGISTER[name]


def default() -> Solver:
    """The solver of a fit that names none: :data:`DEFAULT` with its default options."""
    return _class(DEFAULT)()


def named(name: str, **options) -> Solver:
    """The solver ``name`` with ``options``; an option it does not have is an error
    naming the solvers that have it."""
    cls = _class(name)
    own = {f.name for f in fields(cls)}
    for option in options:
        if option not in own:
            others = [n for n, c in _REGISTER.items() if option in {f.name for f in fields(c)}]
            where = f" (an option of {', '.join(others)})" if others else ""
            raise UsageError(f"the {name} solver has no option {option}{where}")
    return cls(**options)
