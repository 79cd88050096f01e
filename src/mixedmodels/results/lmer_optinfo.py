"""The optimizer's report on an lmer fit (lme4's ``m@optinfo``), with the criterion's gradient at theta.

:class:`OptReport` is what ``LmerResult.optinfo`` gives: the optimizer's name, evaluations,
return code and message, and, on demand, the finite-difference gradient that lme4's convergence
check computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import ArgumentError

__all__ = ["OptReport"]

_GRAD_STEP = 1e-4  # lme4's deriv12 step for the gradient check at the optimum


class _Objective:
    """The fitted criterion as a function of theta (a class, not a closure, so results stay picklable)."""

    def __init__(self, core, reml: bool):
        self.core, self.reml = core, reml

    def __call__(self, theta) -> float:
        return self.core.objective(np.asarray(theta, dtype=float), self.reml)


@dataclass(frozen=True, eq=False)
class OptReport:
    """The optimizer's own report on a fit, and the objective's gradient at the optimum (on demand).

    ``converged`` is what the optimizer said (NLopt's return code), nothing more: a flat gradient is
    a separate question, answered by ``gradient`` here and by ``m.check()``.
    """

    optimizer: str
    nevals: int
    code: int
    message: str
    converged: bool
    objective: object = field(default=None, repr=False)  # theta -> criterion
    theta: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, info, objective=None, theta=None) -> "OptReport":
        return cls(str(info.optimizer), int(info.nevals), int(info.code), str(info.message), bool(info.converged),
                   objective, None if theta is None else np.asarray(theta, dtype=float))

    @classmethod
    def of_fit(cls, info, core, reml: bool, theta) -> "OptReport":
        """The report of a fit whose criterion is ``core.objective(theta, reml)`` (an lmer core)."""
        return cls.of(info, _Objective(core, reml), theta)

    @cached_property
    def gradient(self) -> np.ndarray:
        """Finite-difference gradient of the criterion at the optimum, as lme4 computes it for its
        convergence check (``m@optinfo$derivs$gradient``): central differences with step 1e-4, also at
        a bound (the criterion is defined below it too, and lme4 steps there as well). Two evaluations
        per theta entry."""
        if self.objective is None or self.theta is None:
            raise ArgumentError("this optimizer report carries no objective function to differentiate")
        x = self.theta
        g = np.empty(x.size)
        for i in range(x.size):
            e = np.zeros(x.size)
            e[i] = _GRAD_STEP
            g[i] = (float(self.objective(x + e)) - float(self.objective(x - e))) / (2 * _GRAD_STEP)
        return g

    def as_dict(self) -> dict:
        return {"optimizer": self.optimizer, "nevals": self.nevals, "code": self.code, "message": self.message,
                "converged": self.converged}

    def __repr__(self) -> str:
        return (f"OptReport(optimizer={self.optimizer!r}, nevals={self.nevals}, code={self.code}, "
                f"message={self.message!r}, converged={self.converged})")
