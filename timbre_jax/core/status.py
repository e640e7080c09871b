"""The shape shared by the solvers' status codes: an ``IntEnum`` whose members carry
their message, declared as ``NAME = code, "message"``.

Each solver's enum (:class:`timbre_jax.optim.lbfgsb.Status`, :class:`timbre_jax.optim.exact_lockstep.Status`)
adds ``converged(status, iterations)``, which says elementwise which final codes count as
convergence.  Inside jitted code a status is an integer array; the members are its
constants (``state.status == Status.RUNNING``).
"""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    """Base of the status enums: ``Member.message`` is the member's text."""

    message: str

    def __new__(cls, code: int, message: str):
        member = int.__new__(cls, code)
        member._value_ = code
        member.message = message
        return member
