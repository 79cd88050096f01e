"""GLM families, as R's ``family`` objects (and lme4's compiled versions of them).

A family bundles a distribution (``variance``, ``dev_resids``, ``aic``, ``initialize``) with a link
(``linkfun``, ``linkinv``, ``mu_eta``)::

    import mixedmodels as mm
    fam = mm.families.Binomial(link="probit")
    fam.linkinv(0.3), fam.variance(0.6), fam.name, fam.link        # ..., "binomial", "probit"
    mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family=fam)

``get_family("binomial")`` (also ``"poisson"``, ``"Gamma"``, ``"inverse_gaussian"``,
``"gaussian"``, ``"negative_binomial"`` with a theta) turns the names ``glmer`` accepts into
objects. The numerical details follow lme4's compiled family code (``glmFamily.cpp``), which is
what ``glmer`` evaluates: inverse links are kept away from 0 and 1 by machine epsilon, and the
``aic`` of each distribution is the one lme4 adds to the Laplace approximation (so the Gamma
family's includes R's ``+ 2`` for its dispersion).
"""
from __future__ import annotations

import math
import re

import numpy as np
from scipy import special

from ..errors import ArgumentError, FamilyError, warn
# the links live in links.py; importable from here as before (mm.families.LogitLink, get_link, LINKS)
from .links import (LINKS, CauchitLink, CloglogLink, IdentityLink, InverseLink, InverseSquareLink, Link, LogitLink,
                    LogLink, ProbitLink, SqrtLink, get_link)

__all__ = ["Link", "Family", "Binomial", "Poisson", "Gamma", "InverseGaussian", "Gaussian",
           "NegativeBinomial", "get_family", "get_link", "LINKS", "LogitLink", "ProbitLink", "CauchitLink",
           "CloglogLink", "LogLink", "IdentityLink", "InverseLink", "InverseSquareLink", "SqrtLink"]

_EPS = np.finfo(float).eps
_LOG_2PI = math.log(2.0 * math.pi)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ---------------------------------------------------------------------------------------- helpers

def _ylogy(y, mu):
    """y * log(y / mu), 0 where y == 0 (lme4's Y_log_Y); NaN where mu <= 0 < y (no warning)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.xlogy(y, y / mu)


def _is_integer(x, tol=1e-3) -> bool:
    x = _arr(x)
    return bool(np.all(np.abs(x - np.round(x)) <= tol))


# ---------------------------------------------------------------------------------------- families

class Family:
    """A GLM family: distribution + link. Subclasses set ``name``, ``default_link``, ``links``."""

    name: str = ""                 # R's family$family
    default_link: str = ""
    links: tuple[str, ...] = ()
    has_scale: bool = True        # False where the dispersion is fixed at 1 (binomial, Poisson)

    def __init__(self, link: str | Link | None = None):
        lk = get_link(self.default_link if link is None else link)
        if self.links and lk.name not in self.links:
            raise FamilyError(f"link {lk.name!r} is not available for the {self.name} family; "
                              f"use one of {', '.join(repr(x) for x in self.links)}")
        self.link_obj = lk

    # -- link
    @property
    def link(self) -> str:
        """The link's name, as R's family$link."""
        return self.link_obj.name

    def linkfun(self, mu):
        """eta = g(mu) (the link's)."""
        return self.link_obj.linkfun(mu)

    def linkinv(self, eta):
        """mu = g^-1(eta) (the link's)."""
        return self.link_obj.linkinv(eta)

    def mu_eta(self, eta):
        """d mu / d eta (the link's)."""
        return self.link_obj.mu_eta(eta)

    # -- distribution (overridden)
    def variance(self, mu):
        """The variance function V(mu)."""
        raise NotImplementedError

    def dev_resids(self, y, mu, wt):
        """The squared deviance residuals, weighted by ``wt`` (R's family$dev.resids)."""
        raise NotImplementedError

    def aic(self, y, n, mu, wt, dev) -> float:
        """-2 log-likelihood (plus R's constants) of the conditional distribution, as lme4 uses it."""
        raise NotImplementedError

    #: whether the aic is a sum over rows (binomial, Poisson, negative binomial); a family with a
    #: dispersion (Gamma, inverse Gaussian) estimates it from the whole deviance first, and gives
    #: the sums its aic needs instead (:meth:`aic_sums`, :meth:`aic_from_sums`)
    aic_additive = True

    def aic_sums(self, y, n, mu, wt) -> np.ndarray:
        """Sums over rows from which :meth:`aic_from_sums` gives the aic: additive over any split
        of the rows (a Dask fit sums them over partitions). By default the aic itself."""
        return np.array([self.aic(y, n, mu, wt, math.nan)])

    def aic_from_sums(self, sums, dev: float) -> float:
        """The aic from :meth:`aic_sums` over all rows and the deviance (the sum of the deviance
        residuals) over all rows."""
        return float(sums[0])

    def validmu(self, mu) -> bool:
        """Whether every mean is in the distribution's range (finite, here)."""
        return bool(np.all(np.isfinite(_arr(mu))))

    def initialize(self, y, weights):
        """Check the response; return (y, n, weights, mustart) as R's family$initialize."""
        y = _arr(y)
        if y.ndim != 1:
            raise FamilyError(f"the {self.name} family needs a single numeric response column, "
                              "not a two-column cbind() response (that is for binomial counts)")
        return y, np.ones_like(y), weights, y.copy()

    # -- printing
    @property
    def label(self) -> str:
        """What lme4's summary prints after 'Family:'."""
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.link == self.link and \
            getattr(other, "theta", None) == getattr(self, "theta", None)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.link, getattr(self, "theta", None)))


class Binomial(Family):
    """Binomial: 0/1, logical or two-level factor responses, ``cbind(successes, failures)``, or
    proportions with the numbers of trials as weights."""

    name = "binomial"
    default_link = "logit"
    links = ("logit", "probit", "cloglog", "cauchit", "log")
    has_scale = False

    def variance(self, mu):
        mu = _arr(mu)
        return np.maximum(mu * (1.0 - mu), _EPS)

    def validmu(self, mu) -> bool:
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def dev_resids(self, y, mu, wt):
        y, mu = _arr(y), _arr(mu)
        return 2.0 * _arr(wt) * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))

    def aic(self, y, n, mu, wt, dev) -> float:
        y, n, mu, wt = _arr(y), _arr(n), _arr(mu), _arr(wt)
        m = n if np.any(n > 1) else wt
        yy = np.rint(m * y)
        m = np.rint(m)
        ok = m > 0
        ll = (special.gammaln(m + 1) - special.gammaln(yy + 1) - special.gammaln(m - yy + 1)
              + special.xlogy(yy, mu) + special.xlog1py(m - yy, -mu))
        return float(-2.0 * np.sum(np.where(ok, wt / np.where(ok, m, 1.0) * ll, 0.0)))

    def initialize(self, y, weights):
        y = np.asarray(y, dtype=float)
        w = np.ones(y.shape[0]) if weights is None else _arr(weights)
        if y.ndim == 2:
            if y.shape[1] != 2:
                raise FamilyError("a binomial response matrix must have two columns: "
                                  "cbind(successes, failures)")
            if np.any(y < 0):
                raise FamilyError("cbind(successes, failures): counts must be non-negative; "
                                  f"found {y[np.any(y < 0, axis=1)][0].tolist()}")
            if not _is_integer(y):
                warn("non-integer counts in a binomial glm!", UserWarning, stacklevel=4)
            n = y[:, 0] + y[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                yy = np.where(n == 0, 0.0, y[:, 0] / np.where(n == 0, 1.0, n))
            w = w * n
            mustart = (n * yy + 0.5) / (n + 1.0)
            return yy, n, w, mustart
        if np.any((y < 0) | (y > 1)):
            bad = y[(y < 0) | (y > 1)]
            raise FamilyError("a binomial response must be 0/1, TRUE/FALSE, a two-level factor, proportions "
                              f"in [0, 1] (with the numbers of trials as weights) or cbind(successes, failures); "
                              f"got values outside [0, 1] such as {bad[:3].tolist()}")
        n = np.ones_like(y)
        y = np.where(w == 0, 0.0, y)
        mustart = (w * y + 0.5) / (w + 1.0)
        if not _is_integer(w * y):
            warn("non-integer #successes in a binomial glm!", UserWarning, stacklevel=4)
        return y, n, w, mustart


class Poisson(Family):
    """Poisson counts (dispersion 1); links log (default), identity, sqrt."""

    name = "poisson"
    default_link = "log"
    links = ("log", "identity", "sqrt")
    has_scale = False

    def variance(self, mu):
        return _arr(mu).copy()

    def validmu(self, mu) -> bool:
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y, mu, wt):
        y, mu = _arr(y), _arr(mu)
        return 2.0 * _arr(wt) * (_ylogy(y, mu) - (y - mu))

    def aic(self, y, n, mu, wt, dev) -> float:
        y, mu, wt = _arr(y), _arr(mu), _arr(wt)
        ll = special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)
        return float(-2.0 * np.sum(ll * wt))

    def initialize(self, y, weights):
        y, n, w, _ = super().initialize(y, weights)
        if np.any(y < 0):
            raise FamilyError(f"negative values not allowed for the 'Poisson' family (e.g. {y[y < 0][0]:g}); "
                              "a Poisson response is a count 0, 1, 2, ...")
        if not _is_integer(y, 1e-8):
            warn("non-integer counts in a Poisson response: the likelihood treats them as counts",
                 UserWarning, stacklevel=4)
        return y, n, w, y + 0.1


class NegativeBinomial(Family):
    """Negative binomial with a known shape ``theta`` (MASS's ``negative.binomial(theta)``);
    ``glmer_nb`` estimates theta."""

    default_link = "log"
    links = ("log", "identity", "sqrt")
    has_scale = False

    def __init__(self, theta: float, link: str | Link | None = None):
        theta = float(theta)
        if not (theta > 0 and math.isfinite(theta)):
            raise FamilyError(f"the negative binomial theta must be positive and finite, got {theta!r}")
        self.theta = theta
        super().__init__(link)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"Negative Binomial({_format_theta(self.theta)})"

    def variance(self, mu):
        mu = _arr(mu)
        return mu + mu * mu / self.theta

    def validmu(self, mu) -> bool:
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y, mu, wt):
        y, mu = _arr(y), _arr(mu)
        th = self.theta
        return 2.0 * _arr(wt) * (_ylogy(y, mu) - (y + th) * np.log((y + th) / (mu + th)))

    def aic(self, y, n, mu, wt, dev) -> float:
        y, mu, wt = _arr(y), _arr(mu), _arr(wt)
        th = self.theta
        term = ((y + th) * np.log(mu + th) - special.xlogy(y, mu) + special.gammaln(y + 1.0)
                - th * math.log(th) + special.gammaln(th) - special.gammaln(th + y))
        return float(2.0 * np.sum(term * wt))

    def initialize(self, y, weights):
        y, n, w, _ = Family.initialize(self, y, weights)
        if np.any(y < 0):
            raise FamilyError(f"negative values not allowed for the negative binomial family (e.g. {y[y < 0][0]:g})")
        return y, n, w, y + (y == 0) / 6.0

    def __repr__(self) -> str:
        return f"NegativeBinomial(theta={self.theta!r}, link={self.link!r})"


def _format_theta(th: float) -> str:
    """MASS's family name: format(round(theta, 4))."""
    from ..rformat import format_num, round_r

    return format_num([round_r(th, 4)], 7)[0].strip()


class Gamma(Family):
    """Gamma responses, with a dispersion; links inverse (default), identity, log."""

    name = "Gamma"
    default_link = "inverse"
    links = ("inverse", "identity", "log")
    has_scale = True

    def variance(self, mu):
        mu = _arr(mu)
        return mu * mu

    def validmu(self, mu) -> bool:
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y, mu, wt):
        y, mu = _arr(y), _arr(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = y / mu
            lr = np.where(r > 0, np.log(np.where(r > 0, r, 1.0)), 0.0)
        return -2.0 * _arr(wt) * (lr - (y - mu) / mu)

    def aic(self, y, n, mu, wt, dev) -> float:
        y, mu, wt = _arr(y), _arr(mu), _arr(wt)
        disp = dev / np.sum(wt)
        shape = 1.0 / disp
        scale = mu * disp
        ll = -special.gammaln(shape) - shape * np.log(scale) + (shape - 1.0) * np.log(y) - y / scale
        return float(-2.0 * np.sum(wt * ll) + 2.0)

    aic_additive = False

    def aic_sums(self, y, n, mu, wt) -> np.ndarray:
        r"""``(sum w, sum w log mu, sum w log y, sum w y / mu)``: with ``d = dev / sum w`` and
        ``a = 1 / d`` the log density summed is ``-W lgamma(a) - a (sum w log mu + W log d)
        + (a - 1) sum w log y - (1/d) sum w y/mu``, R's ``Gamma()$aic`` term by term."""
        y, mu, wt = _arr(y), _arr(mu), _arr(wt)
        return np.array([np.sum(wt), np.sum(wt * np.log(mu)), np.sum(wt * np.log(y)), np.sum(wt * y / mu)])

    def aic_from_sums(self, sums, dev: float) -> float:
        W, slmu, sly, sym = (float(v) for v in sums)
        disp = dev / W
        a = 1.0 / disp
        ll = -W * special.gammaln(a) - a * (slmu + W * math.log(disp)) + (a - 1.0) * sly - sym / disp
        return float(-2.0 * ll + 2.0)

    def initialize(self, y, weights):
        y, n, w, _ = super().initialize(y, weights)
        if np.any(y <= 0):
            raise FamilyError(f"non-positive values not allowed for the 'Gamma' family (e.g. {y[y <= 0][0]:g}); "
                              "a Gamma response must be > 0")
        return y, n, w, y.copy()


class InverseGaussian(Family):
    """Inverse Gaussian responses, with a dispersion; links 1/mu^2 (default), inverse, identity, log."""

    name = "inverse.gaussian"
    default_link = "1/mu^2"
    links = ("1/mu^2", "inverse", "identity", "log")
    has_scale = True

    def variance(self, mu):
        return _arr(mu) ** 3

    def validmu(self, mu) -> bool:
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y, mu, wt):
        y, mu = _arr(y), _arr(mu)
        return _arr(wt) * (y - mu) ** 2 / (y * mu * mu)

    def aic(self, y, n, mu, wt, dev) -> float:
        y, wt = _arr(y), _arr(wt)
        ws = float(np.sum(wt))
        return float(ws * (math.log(dev / ws * 2.0 * math.pi) + 1.0) + 3.0 * np.sum(np.log(y) * wt) + 2.0)

    aic_additive = False

    def aic_sums(self, y, n, mu, wt) -> np.ndarray:
        """``(sum w, sum w log y)``: R's ``inverse.gaussian()$aic`` needs no more."""
        y, wt = _arr(y), _arr(wt)
        return np.array([np.sum(wt), np.sum(np.log(y) * wt)])

    def aic_from_sums(self, sums, dev: float) -> float:
        ws, sly = float(sums[0]), float(sums[1])
        return float(ws * (math.log(dev / ws * 2.0 * math.pi) + 1.0) + 3.0 * sly + 2.0)

    def initialize(self, y, weights):
        y, n, w, _ = super().initialize(y, weights)
        if np.any(y <= 0):
            raise FamilyError("positive values only are allowed for the 'inverse.gaussian' family "
                              f"(e.g. {y[y <= 0][0]:g})")
        return y, n, w, y.copy()


class Gaussian(Family):
    """Normal responses, with a dispersion; links identity (default), log, inverse."""

    name = "gaussian"
    default_link = "identity"
    links = ("identity", "log", "inverse")
    has_scale = True

    def variance(self, mu):
        return np.ones_like(_arr(mu))

    def dev_resids(self, y, mu, wt):
        y, mu = _arr(y), _arr(mu)
        return _arr(wt) * (y - mu) ** 2

    def aic(self, y, n, mu, wt, dev) -> float:
        wt = _arr(wt)
        nn = wt.size
        with np.errstate(divide="ignore"):
            lw = np.sum(np.log(wt[wt > 0]))
        return float(nn * (math.log(2.0 * math.pi * dev / nn) + 1.0) + 2.0 - lw)

    def initialize(self, y, weights):
        y, n, w, _ = super().initialize(y, weights)
        if self.link == "log" and np.any(y <= 0):
            raise FamilyError("cannot find valid starting values: the log link needs a positive response")
        if self.link == "inverse" and np.any(y == 0):
            raise FamilyError("cannot find valid starting values: the inverse link needs a non-zero response")
        return y, n, w, y.copy()


_FAMILIES = {
    "binomial": Binomial, "poisson": Poisson, "gamma": Gamma, "inverse_gaussian": InverseGaussian,
    "inverse.gaussian": InverseGaussian, "inversegaussian": InverseGaussian, "gaussian": Gaussian,
    "normal": Gaussian, "negative_binomial": NegativeBinomial, "negative.binomial": NegativeBinomial,
    "negativebinomial": NegativeBinomial, "nb": NegativeBinomial,
}

# "binomial(link = 'probit')", and R's own names such as "Negative Binomial(2.5)" (family$family)
_CALL = re.compile(r"^\s*([A-Za-z_.][A-Za-z_. ]*?)\s*\((.*)\)\s*$")


def get_family(family) -> Family:
    """A Family from a name ("binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian"),
    an R-style call string ("binomial(link = 'probit')"), a Family class or a Family object."""
    if isinstance(family, Family):
        return family
    if isinstance(family, type) and issubclass(family, Family):
        if family is NegativeBinomial:
            raise FamilyError("the negative binomial family needs its theta: use "
                              "mm.families.NegativeBinomial(theta=...), or mm.glmer_nb() to estimate it")
        return family()
    if isinstance(family, str):
        text = family.strip()
        link = None
        theta = None
        m = _CALL.match(text)
        if m:
            text = m.group(1)
            for arg in filter(None, (a.strip() for a in m.group(2).split(","))):
                key, _, val = arg.partition("=")
                key, val = key.strip(), val.strip().strip("'\"")
                if not _:
                    val, key = key.strip("'\""), ("theta" if text.lower().startswith("neg") else "link")
                if key == "link":
                    link = val
                elif key == "theta":
                    try:
                        theta = float(val)
                    except ValueError:
                        raise FamilyError(f"theta must be a number, got {val!r}") from None
                else:
                    raise FamilyError(f"unknown argument {key!r} in family {family!r}")
        key = text.lower().replace(" ", "")
        if key not in _FAMILIES:
            raise FamilyError(f"unknown family {family!r}; use one of 'binomial', 'poisson', 'Gamma', "
                              "'inverse_gaussian', 'gaussian', or a family object such as "
                              "mm.families.Binomial(link='probit')")
        cls = _FAMILIES[key]
        if cls is NegativeBinomial:
            if theta is None:
                raise FamilyError("the negative binomial family needs its theta: use "
                                  "mm.families.NegativeBinomial(theta=...), or mm.glmer_nb() to estimate it")
            return NegativeBinomial(theta, link=link)
        return cls(link=link)
    if callable(family) and not isinstance(family, type):
        return get_family(family())
    raise ArgumentError(f"family must be a name such as 'binomial' or a family object, got {type(family).__name__}")
