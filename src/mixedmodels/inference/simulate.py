r"""Simulated responses and the parametric bootstrap (lme4's ``simulate.merMod`` and ``bootMer``).

From the fitted model ``y = X beta + Z b + e``, ``b = sigma Lambda(theta) u``:

    y* = offset + X beta_hat + Z b* + sigma_hat e* / sqrt(w),   u* ~ N(0, I),  e* ~ N(0, I)

where ``b*`` is drawn anew for the random-effects terms that are not conditioned on and is the
conditional mode ``b_hat`` for those that are. ``re_form`` names the terms conditioned on, with
lme4's meaning: ``"~0"`` (the default, lme4's ``re.form = NA``) conditions on none, so every
random effect is drawn anew (lme4's ``use.u = FALSE``); ``None`` conditions on all of them (lme4's
``re.form = NULL``, ``use.u = TRUE``: only the residuals are new); a formula such as
``"~(1 | Subject)"`` conditions on those terms and draws the others.

The bootstrap refits the model to each simulated response, reusing its design (only the [X y]
crossproducts change), and applies a statistic to every refit.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..distributions import norm_ppf
from ..arguments import check_count
from ..errors import ArgumentError, MixedModelError, collected
from ..progress import progress_bar
from ..rformat import percent_labels

__all__ = ["simulate", "bootstrap", "BootResult"]


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        raise ArgumentError(f"seed must be an integer, a numpy Generator or None, got {type(seed).__name__}")
    return np.random.default_rng(seed)


def _conditioned_terms(m, re_form) -> set[int]:
    """Indices of the model's random terms whose conditional modes are kept."""
    if re_form is None:
        return set(range(len(m.terms)))
    if isinstance(re_form, float) and math.isnan(re_form):
        return set()
    text = str(re_form).strip()
    if text.replace(" ", "") in ("~0", "0", "NA", "~-1", ""):
        return set()
    from ..formula.parse import parse_formula

    rhs = text[text.index("~") + 1:] if "~" in text else text
    try:
        wanted = parse_formula(f"y__ ~ {rhs}").random
    except MixedModelError as e:
        raise ArgumentError(f"re_form must be None, '~0' or a formula of random-effects terms "
                            f"such as '~(1 | Subject)'; got {re_form!r} ({e})") from None
    keep = set()
    norm = lambda s: s.replace(" ", "")  # noqa: E731
    for w in wanted:
        hits = [i for i, t in enumerate(m.terms)
                if t.term.factors == w.factors and norm(t.term.expr) == norm(w.expr)]
        if not hits:
            raise ArgumentError(f"re_form term {w} is not a random-effects term of the model; it has "
                                f"{', '.join(str(t.term) for t in m.terms)}")
        keep.update(hits)
    return keep


def _add_random_effects(Y: np.ndarray, m, templates, keep: set[int], rng: np.random.Generator,
                        scale: float) -> None:
    """Y (n, nsim) += Z b per simulation: the conditional modes for the terms in ``keep``, else
    b* = scale Lambda u*, u* ~ N(0, I) drawn anew (term by term, in the fit's term order)."""
    nsim = Y.shape[1]
    for k, (t, T) in enumerate(zip(m.terms, templates)):
        if k in keep:
            Y += np.einsum("ij,ij->i", t.z, m.b[k][t.codes])[:, None]
        else:
            u = rng.standard_normal((nsim, t.nlev, t.p))
            b = scale * u @ T.T                            # (nsim, nlev, p)
            Y += np.einsum("ij,sij->is", t.z, b[:, t.codes, :])


def _simulate_glmm(m, nsim: int, rng: np.random.Generator, re_form="~0") -> np.ndarray:
    """(n, nsim) responses of a glmer fit: eta = offset + X beta + Z Lambda u*, then the family's
    draw at mu = linkinv(eta); binomial as proportions of the prior weights (R's trials)."""
    from ..glmm import families as F

    fam, model = m.family, m.model
    if not isinstance(fam, (F.Binomial, F.Poisson, F.NegativeBinomial)):
        raise ArgumentError(f"simulating from a glmer fit is available for the binomial, Poisson and negative "
                            f"binomial families, not {fam.name}")
    eta = model.offset + (model.X @ np.asarray(m.beta, dtype=float) if model.p else 0.0)
    E = np.repeat(np.asarray(eta, dtype=float)[:, None], nsim, axis=1)
    # lme4 does not scale a GLMM's random effects by sigma: b* = Lambda u*
    _add_random_effects(E, m, m.templates, _conditioned_terms(m, re_form), rng, 1.0)
    mu = fam.linkinv(E)
    if isinstance(fam, F.Binomial):
        trials = np.asarray(model.pw, dtype=float)
        size = np.round(trials).astype(np.int64)[:, None]
        succ = rng.binomial(np.broadcast_to(size, mu.shape), np.clip(mu, 0.0, 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(trials[:, None] > 0, succ / trials[:, None], 0.0)
    if isinstance(fam, F.Poisson):
        return rng.poisson(mu).astype(float)
    th = float(fam.theta)
    return rng.negative_binomial(th, th / (th + mu)).astype(float)


def _simulate_matrix(m, nsim: int, rng: np.random.Generator, re_form="~0") -> np.ndarray:
    """(n, nsim) simulated responses."""
    if hasattr(m, "family"):
        return _simulate_glmm(m, nsim, rng, re_form)
    n = m.nobs
    sigma = float(m.sigma)
    mu = m._eta_fixed.copy()
    Y = np.repeat(mu[:, None], nsim, axis=1)
    _add_random_effects(Y, m, m.templates, _conditioned_terms(m, re_form), rng, sigma)
    e = rng.standard_normal((n, nsim)) * sigma
    w = m.frame.weights
    if w is not None:
        with np.errstate(divide="ignore"):
            e = e / np.sqrt(np.asarray(w, dtype=float))[:, None]
    return Y + e


def simulate(m, nsim: int = 1, seed=None, re_form="~0", use_u: bool = False) -> pd.DataFrame:
    """Responses simulated from the fitted model: columns ``sim_1 ... sim_nsim``, rows as used in the fit.

    ``seed``: an int, a numpy Generator or None. ``re_form``: which random effects are kept at their
    conditional modes (default none: all drawn anew); ``use_u=True`` is lme4's shorthand for
    ``re_form=None`` (keep all).
    """
    nsim = check_count(nsim, "nsim")
    Y = _simulate_matrix(m, int(nsim), _rng(seed), None if use_u else re_form)
    return pd.DataFrame(Y, index=m.frame.data.index, columns=[f"sim_{i + 1}" for i in range(int(nsim))])


# ---------------------------------------------------------------------------------------------
# the parametric bootstrap

@dataclass
class BootResult:
    """Statistics of a parametric bootstrap (lme4's ``bootMer`` object), as ``m.bootstrap(func)`` returns it.

    Attributes
    ----------
    t0 : pandas.Series
        The statistic on the original fit.
    t : pandas.DataFrame
        One row per simulation, one column per statistic (NaN rows for refits that failed).
    nsim : int
        The number of simulations.
    seed : object
        The seed given (None: fresh entropy).
    warnings : collections.Counter
        Counts of the warning messages raised by the refits.
    failures : list of str
        The error messages of failed refits.

    Examples
    --------
    >>> b = m.bootstrap(lambda fit: fit.fixef, nsim=10, seed=1)
    >>> b
    <BootResult: 10 simulations, 2 statistic(s)>
    >>> b.t.shape, b.t0.round(3).to_dict()
    ((10, 2), {'(Intercept)': 251.405, 'Days': 10.467})
    """

    t0: pd.Series
    t: pd.DataFrame
    nsim: int
    seed: object = None
    warnings: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)

    def confint(self, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Bootstrap intervals per statistic, as R's ``boot.ci``: "perc", "basic" or "norm".

        "perc": the a/2 and 1 - a/2 quantiles of the replicates (interpolated on the normal
        quantile scale, as boot's ``norm.inter``); "basic": 2 t0 minus those; "norm": t0 - bias
        +- z sd of the replicates.

        Parameters
        ----------
        level : float, default 0.95
            The confidence level.
        type : {"perc", "basic", "norm"}, default "perc"
            The kind of interval.

        Returns
        -------
        pandas.DataFrame
            One row per statistic, columns named as R's percentages (NaN with fewer than two
            finite replicates).

        Raises
        ------
        ArgumentError
            For an unknown ``type``.

        Examples
        --------
        >>> b = m.bootstrap(lambda fit: fit.fixef, nsim=10, seed=1)
        >>> b.confint().round(1)
                     2.5 %  97.5 %
        (Intercept)  237.0   256.7
        Days           8.3    12.1
        """
        a = np.array([(1 - level) / 2, (1 + level) / 2])
        rows = []
        for name in self.t.columns:
            tt = self.t[name].to_numpy(dtype=float)
            tt = tt[np.isfinite(tt)]
            t0 = float(self.t0[name])
            if tt.size < 2:
                rows.append([np.nan, np.nan])
            elif type == "perc":
                rows.append(list(_norm_inter(tt, a)))
            elif type == "basic":
                q = _norm_inter(tt, a[::-1])
                rows.append([2 * t0 - q[0], 2 * t0 - q[1]])
            elif type == "norm":
                bias = tt.mean() - t0
                sd = tt.std(ddof=1)
                z = norm_ppf(a)
                rows.append(list(t0 - bias + sd * z))
            else:
                raise ArgumentError(f"unknown bootstrap interval type {type!r}; use 'perc', 'basic' or 'norm'")
        return pd.DataFrame(rows, index=list(self.t.columns), columns=percent_labels(level))

    def summary(self) -> pd.DataFrame:
        """original, bias, std. error and median per statistic (as R's ``summary(boot)``).

        Returns
        -------
        pandas.DataFrame
            Columns ``original, bootBias, bootSE, bootMed``, one row per statistic.

        Examples
        --------
        >>> b = m.bootstrap(lambda fit: fit.fixef, nsim=10, seed=1)
        >>> b.summary().round(2)
                     original  bootBias  bootSE  bootMed
        (Intercept)    251.41     -3.73    5.69   247.29
        Days            10.47     -0.35    0.97    10.21
        """
        return pd.DataFrame({"original": self.t0, "bootBias": self.t.mean() - self.t0,
                             "bootSE": self.t.std(ddof=1), "bootMed": self.t.median()})

    def __repr__(self) -> str:
        s = f"<BootResult: {self.nsim} simulations, {self.t.shape[1]} statistic(s)"
        if self.failures:
            s += f", {len(self.failures)} failed"
        return s + ">"


def _norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Percentile-interval endpoints with interpolation on the normal-quantile scale
    (Davison & Hinkley 1997, eq. 5.8): between order statistics k and k+1 of R sorted values,
    k = floor((R + 1) alpha)."""
    t = np.sort(t)
    R = len(t)
    out = np.empty(len(alpha))
    for i, a in enumerate(alpha):
        rk = (R + 1) * a
        k = int(math.floor(rk))
        if k <= 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[-1]
        elif rk == k:
            out[i] = t[k - 1]
        else:
            z, zk, zk1 = norm_ppf(a), norm_ppf(k / (R + 1)), norm_ppf((k + 1) / (R + 1))
            out[i] = t[k - 1] + (z - zk) / (zk1 - zk) * (t[k] - t[k - 1])
    return out


def _as_vector(value) -> tuple[np.ndarray, list | None]:
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=float), [str(i) for i in value.index]
    if isinstance(value, dict):
        return np.asarray(list(value.values()), dtype=float), [str(k) for k in value]
    return np.atleast_1d(np.asarray(value, dtype=float)).ravel(), None


# the job a worker process runs: set in the parent before the pool forks, so that func may be a
# lambda or closure (nothing but indices crosses the process boundary)
_JOB: dict = {}


def _refit_stat(m, func, y):
    """func(refit) for one simulated response: (values or None, warning messages, error or None)."""
    with collected() as caught:
        try:
            fit = m.refit(y=y)
            vals = _as_vector(func(fit))[0]
            err = None
        except (MixedModelError, np.linalg.LinAlgError, FloatingPointError, ValueError) as e:
            vals, err = None, f"{type(e).__name__}: {e}"
    return vals, [str(w) for w in caught], err


def _worker(indices):
    m, func, Y = _JOB["m"], _JOB["func"], _JOB["Y"]
    return [(i, *_refit_stat(m, func, Y[:, i])) for i in indices]


def bootstrap(m, func, nsim: int = 100, seed=None, n_jobs: int = 1, progress=None, re_form="~0",
              use_u: bool = False) -> BootResult:
    """Parametric bootstrap (lme4's ``bootMer(type = "parametric")``).

    Simulates ``nsim`` responses from ``m`` (``re_form``/``use_u`` as in :func:`simulate`), refits
    the model to each (same criterion, same design) and records ``func(refit)``: a scalar, an array
    or a Series (its index names the statistics). ``n_jobs`` > 1 refits in worker processes
    (``-1``: one per CPU); ``progress``: None shows a tqdm bar when tqdm is installed and stderr is
    a terminal, True/False force it on/off. Refits that fail give a row of NaN and are listed in
    ``failures``; their warnings are counted in ``warnings``.
    """
    nsim = check_count(nsim, "nsim")
    t0, names = _as_vector(func(m))
    Y = _simulate_matrix(m, nsim, _rng(seed), None if use_u else re_form)
    T = np.full((nsim, t0.size), np.nan)
    counts: Counter = Counter()
    failures = []
    bar = progress_bar(nsim, progress, "bootstrap")

    def record(i, vals, msgs, err):
        counts.update(msgs)
        if err is not None:
            failures.append((i, err))
        elif vals.size != t0.size:
            failures.append((i, f"the statistic has {vals.size} values here but {t0.size} on the original fit"))
        else:
            T[i] = vals
        bar.update(1)

    jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    try:
        if jobs == 1 or nsim < 2:
            for i in range(nsim):
                record(i, *_refit_stat(m, func, Y[:, i]))
        else:
            _run_parallel(m, func, Y, jobs, record)
    finally:
        bar.close()
    cols = names if names is not None else ([f"t{i + 1}" for i in range(t0.size)] if t0.size > 1 else ["t1"])
    return BootResult(t0=pd.Series(t0, index=cols), t=pd.DataFrame(T, columns=cols), nsim=nsim, seed=seed,
                      warnings=counts, failures=sorted(failures))


def _run_parallel(m, func, Y, jobs, record):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    nsim = Y.shape[1]
    chunks = [list(range(s, min(nsim, s + max(1, nsim // (4 * jobs))))) for s in
              range(0, nsim, max(1, nsim // (4 * jobs)))]
    if "fork" in mp.get_all_start_methods():
        # forked workers inherit the job: func need not be picklable
        _JOB.update(m=m, func=func, Y=Y)
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as ex:
                futures = [ex.submit(_worker, c) for c in chunks]
                for fut in as_completed(futures):
                    for res in fut.result():
                        record(*res)
        finally:
            _JOB.clear()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            futures = [ex.submit(_refit_stat, m, func, Y[:, i]) for i in range(nsim)]
            for i, fut in enumerate(futures):
                record(i, *fut.result())
