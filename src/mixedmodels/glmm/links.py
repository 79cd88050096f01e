"""Link functions of the GLM families, as R's ``make.link`` (and lme4's compiled versions of them).

A link g maps the mean mu to the linear predictor eta = g(mu); each class gives ``linkfun`` (g),
``linkinv`` (g^-1) and ``mu_eta`` (d mu / d eta). Inverse links are kept away from the edges of their
range by machine epsilon, as lme4's ``glmFamily.cpp``, so that PIRLS never sees a mean of exactly 0
or 1. ``get_link("probit")`` turns the names the families accept into objects.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..errors import FamilyError

__all__ = ["Link", "LogitLink", "ProbitLink", "CloglogLink", "CauchitLink", "LogLink", "IdentityLink",
           "InverseLink", "SqrtLink", "InverseSquareLink", "LINKS", "get_link"]

_EPS = np.finfo(float).eps


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


class Link:
    """A link function g with its inverse and derivative d mu / d eta."""

    name: str = ""

    def linkfun(self, mu):
        """eta = g(mu), elementwise."""
        raise NotImplementedError

    def linkinv(self, eta):
        """mu = g^-1(eta), elementwise."""
        raise NotImplementedError

    def mu_eta(self, eta):
        """d mu / d eta at eta, elementwise (kept at or above eps where it could underflow)."""
        raise NotImplementedError

    def valideta(self, eta) -> bool:
        """Whether every eta is in the link's domain (finite, here)."""
        return bool(np.all(np.isfinite(_arr(eta))))

    def __repr__(self) -> str:
        return f"<link {self.name!r}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Link) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class LogitLink(Link):
    """g(mu) = log(mu / (1 - mu)); the inverse is clipped to [eps, 1 - eps]."""

    name = "logit"

    def linkfun(self, mu):
        mu = _arr(mu)
        with np.errstate(divide="ignore"):
            return special.logit(mu)

    def linkinv(self, eta):
        return np.clip(special.expit(_arr(eta)), _EPS, 1.0 - _EPS)

    def mu_eta(self, eta):
        e = np.exp(-np.abs(_arr(eta)))
        return np.maximum(e / (1.0 + e) ** 2, _EPS)


class ProbitLink(Link):
    """g(mu) = Phi^-1(mu), the standard normal quantile; the inverse is clipped to [eps, 1 - eps]."""

    name = "probit"

    def linkfun(self, mu):
        return special.ndtri(_arr(mu))

    def linkinv(self, eta):
        return np.clip(special.ndtr(_arr(eta)), _EPS, 1.0 - _EPS)

    def mu_eta(self, eta):
        eta = _arr(eta)
        return np.maximum(np.exp(-0.5 * eta * eta) / math.sqrt(2 * math.pi), _EPS)


class CloglogLink(Link):
    """g(mu) = log(-log(1 - mu)), complementary log-log; the inverse is clipped to [eps, 1 - eps]."""

    name = "cloglog"

    def linkfun(self, mu):
        mu = _arr(mu)
        with np.errstate(divide="ignore"):
            return np.log(-np.log1p(-mu))

    def linkinv(self, eta):
        eta = np.minimum(_arr(eta), 700.0)
        return np.clip(-np.expm1(-np.exp(eta)), _EPS, 1.0 - _EPS)

    def mu_eta(self, eta):
        eta = np.minimum(_arr(eta), 700.0)
        return np.maximum(np.exp(eta - np.exp(eta)), _EPS)


class CauchitLink(Link):
    """g(mu) = the standard Cauchy quantile of mu, ``tan(pi (mu - 1/2))``; the inverse,
    ``1/2 + atan(eta)/pi``, is clipped to [eps, 1 - eps] (R's ``make.link("cauchit")``; the closed
    forms scipy.stats.cauchy computes, without importing scipy.stats)."""

    name = "cauchit"

    def linkfun(self, mu):
        return np.tan(np.pi * (_arr(mu) - 0.5))

    def linkinv(self, eta):
        return np.clip(0.5 + np.arctan(_arr(eta)) / np.pi, _EPS, 1.0 - _EPS)

    def mu_eta(self, eta):
        e = _arr(eta)
        return np.maximum(1.0 / (np.pi * (1.0 + e * e)), _EPS)


class LogLink(Link):
    """g(mu) = log(mu); the inverse is kept at or above eps."""

    name = "log"

    def linkfun(self, mu):
        with np.errstate(divide="ignore"):
            return np.log(_arr(mu))

    def linkinv(self, eta):
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_arr(eta)), _EPS)

    def mu_eta(self, eta):
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_arr(eta)), _EPS)


class IdentityLink(Link):
    """g(mu) = mu."""

    name = "identity"

    def linkfun(self, mu):
        return _arr(mu).copy()

    def linkinv(self, eta):
        return _arr(eta).copy()

    def mu_eta(self, eta):
        return np.ones_like(_arr(eta))


class InverseLink(Link):
    """g(mu) = 1 / mu (the Gamma family's canonical link); eta must be non-zero."""

    name = "inverse"

    def linkfun(self, mu):
        with np.errstate(divide="ignore"):
            return 1.0 / _arr(mu)

    def linkinv(self, eta):
        with np.errstate(divide="ignore"):
            return 1.0 / _arr(eta)

    def mu_eta(self, eta):
        with np.errstate(divide="ignore"):
            return -1.0 / _arr(eta) ** 2

    def valideta(self, eta) -> bool:
        eta = _arr(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class SqrtLink(Link):
    """g(mu) = sqrt(mu); eta must be positive."""

    name = "sqrt"

    def linkfun(self, mu):
        return np.sqrt(_arr(mu))

    def linkinv(self, eta):
        return _arr(eta) ** 2

    def mu_eta(self, eta):
        return 2.0 * _arr(eta)

    def valideta(self, eta) -> bool:
        eta = _arr(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class InverseSquareLink(Link):
    """g(mu) = 1 / mu^2 (the inverse Gaussian family's canonical link); eta must be positive."""

    name = "1/mu^2"

    def linkfun(self, mu):
        with np.errstate(divide="ignore"):
            return 1.0 / _arr(mu) ** 2

    def linkinv(self, eta):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / np.sqrt(_arr(eta))

    def mu_eta(self, eta):
        with np.errstate(divide="ignore", invalid="ignore"):
            return -1.0 / (2.0 * _arr(eta) ** 1.5)

    def valideta(self, eta) -> bool:
        eta = _arr(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


LINKS = {cls.name: cls for cls in (LogitLink, ProbitLink, CloglogLink, CauchitLink, LogLink, IdentityLink,
                                    InverseLink, SqrtLink, InverseSquareLink)}
_LINK_ALIASES = {"inverse_square": "1/mu^2", "1/mu**2": "1/mu^2", "mu^-2": "1/mu^2"}


def get_link(link) -> Link:
    """A Link from a name ("logit", "probit", "cloglog", "cauchit", "log", "identity", "inverse",
    "sqrt", "1/mu^2") or a Link object."""
    if isinstance(link, Link):
        return link
    if isinstance(link, type) and issubclass(link, Link):
        return link()
    if isinstance(link, str):
        key = link.strip().strip("'\"")
        key = _LINK_ALIASES.get(key, key)
        if key in LINKS:
            return LINKS[key]()
    raise FamilyError(f"unknown link {link!r}; known links: {', '.join(LINKS)}")
