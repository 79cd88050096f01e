r"""Confidence intervals: lme4's ``confint(method = "profile" | "Wald" | "boot", oldNames = FALSE)``.

Parameters, in lme4's order: for each random-effects term the standard deviations and correlations
of its effects (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ``sd_Days|Subject``,
positioned as theta), then ``sigma``, then the fixed effects.

**Profile** (Bates et al. 2015, sec. 5.1). Always from the ML fit (a REML fit is refitted by ML,
as lme4 does). For a parameter ``phi`` held at a value ``x``, the profiled deviance ``d(x)`` is the
ML deviance minimized over all the other parameters, and the signed square root

    zeta(x) = sign(x - phi_hat) sqrt(d(x) - d(phi_hat))

is nearly linear in ``x`` when the likelihood is nearly quadratic. A variance-component parameter
is held fixed on the sd/correlation scale while the others (sd's, correlations and sigma) are
optimized with BOBYQA; a fixed effect ``beta_j`` is held fixed by moving ``X_j beta_j`` into the
offset and optimizing theta (sigma and the other beta profiled out analytically). Points are placed
as lme4 places them: steps of about ``delta = cutoff / 8`` in zeta outward from the optimum until
``|zeta| > cutoff = sqrt(chi^2_{1-alphamax}(npar))``. An interpolating cubic spline of zeta in
``x`` is inverted (a cubic spline of ``x`` in zeta, as R's ``backSpline``) and evaluated at
``zeta = qnorm((1 -+ level)/2)``; where the profile stops at a bound first (an sd reaching 0, a
correlation +-1), the bound is the interval's end.

**Wald**: ``beta_hat +- z sqrt(diag(vcov))`` for the fixed effects only (lme4 returns NA rows for
the variance parameters; we leave those rows out).

**Boot**: parametric bootstrap (lme4's ``bootMer``) of all parameters, percentile intervals with
the normal-quantile interpolation of R's ``boot.ci(type = "perc")``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline

from ..distributions import chi2_ppf, norm_ppf
from ..arguments import check_level
from ..errors import (ArgumentError, ConvergenceWarning, FitError, MixedModelWarning, SingularFitWarning,
                     warn, silenced)
from ..rformat import percent_labels

__all__ = ["confint", "profile", "ProfileTable", "xy_core", "sdcor_names", "theta_to_sdcor", "sdcor_to_theta",
           "percent_labels"]


# ---------------------------------------------------------------------------------------------
# parameter scales

def _layout(m):
    return m.model.layout if hasattr(m, "model") else m.core.layout  # glmer's or lmer's


def _has_sigma(m) -> bool:
    """Whether the fit's parameters include sigma (not for binomial, Poisson, negative binomial)."""
    return bool(getattr(m, "has_scale", True))


def sdcor_names(m) -> list[str]:
    """lme4's tnames(oldNames = FALSE), then "sigma" where the model has one:
    sd_<col>|<group>, cor_<row>.<col>|<group>."""
    out = []
    layout = _layout(m)
    for t, s in zip(m.terms, layout.structures):
        if s.name != "us":      # a structure's own parameters: sd's and one correlation rho
            out.extend(s.natural_names(list(t.cnames), t.group))
            continue
        for i, j in zip(s.rows, s.cols):
            out.append(f"sd_{t.cnames[i]}|{t.group}" if i == j else f"cor_{t.cnames[i]}.{t.cnames[j]}|{t.group}")
    return out + (["sigma"] if _has_sigma(m) else [])


def theta_to_sdcor(layout, theta: np.ndarray, sigma: float, undefined: float = 0.0) -> np.ndarray:
    """(theta, sigma) -> (sd's and correlations per term, sigma), positioned as theta.

    A correlation with a zero sd is undefined: ``undefined`` (0, so that a profile can start
    there; the bootstrap uses NaN as lme4 does, and leaves such replicates out of the interval).
    """
    out = np.empty(layout.size + 1)
    for T, s, th, off in zip(layout.templates(theta), layout.structures, layout.split(theta),
                             layout.theta_offsets):
        if s.name != "us":
            out[off: off + s.size] = s.natural(th, sigma)
            continue
        rows, cols = s.rows, s.cols
        C = sigma * sigma * (T @ T.T)
        sd = np.sqrt(np.maximum(np.diag(C), 0.0))
        for k, (i, j) in enumerate(zip(rows, cols)):
            if i == j:
                out[off + k] = sd[i]
            else:
                out[off + k] = C[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else undefined
    out[-1] = sigma
    return out


def sdcor_to_theta(layout, sdcor: np.ndarray) -> np.ndarray | None:
    """Inverse of theta_to_sdcor: theta from sd's, correlations and sigma (None if not a covariance)."""
    sigma = sdcor[-1]
    if not sigma > 0:
        return None
    theta = np.empty(layout.size)
    for s, off in zip(layout.structures, layout.theta_offsets):
        p, rows, cols = s.p, s.rows, s.cols
        if s.name != "us":
            th = s.from_natural(sdcor[off: off + s.size], sigma)
            if th is None:
                return None
            theta[off: off + s.size] = th
            continue
        sd, R = np.zeros(p), np.eye(p)
        for k, (i, j) in enumerate(zip(rows, cols)):
            if i == j:
                sd[i] = sdcor[off + k]
            else:
                R[i, j] = R[j, i] = sdcor[off + k]
        S = (sd[:, None] * R * sd[None, :]) / (sigma * sigma)
        pos = sd > 0
        T = np.zeros((p, p))
        if pos.any():
            # zero sd's: zero rows and columns of T (a semi-definite covariance, as lme4's safe_chol)
            try:
                T[np.ix_(pos, pos)] = np.linalg.cholesky(S[np.ix_(pos, pos)])
            except np.linalg.LinAlgError:
                return None
        theta[off: off + len(rows)] = T[rows, cols]
    return theta


def xy_core(m, keep: list[int], shift_col: int | None = None, shift: float = 0.0):
    """An LmmCore of fit m's random terms with ``[X y]`` replaced by
    ``[X[:, keep], y - shift * X[:, shift_col]]``.

    Used for profiling a fixed effect (``X_j beta_j`` moved into the offset) and for refits
    without some fixed-effect columns. The crossproducts are bilinear in the columns of [X y], so
    a core that offers ``transform_xy(M)`` (new blocks = old blocks times a (p+1) x (p'+1) matrix)
    is reused without a pass over the rows; otherwise the blocks are formed again from the rows.
    """
    core = m.core
    p = core.p
    if hasattr(core, "transform_xy"):
        M = np.zeros((p + 1, len(keep) + 1))
        M[keep, np.arange(len(keep))] = 1.0
        M[p, -1] = 1.0
        if shift_col is not None:
            M[shift_col, -1] = -shift
        return core.transform_xy(M)
    from ..core.lmm import LmmCore

    X = np.asarray(m.fixed.X, dtype=float)
    frame = m.frame
    offset = frame.offset
    if shift_col is not None and shift != 0.0:
        extra = shift * X[:, shift_col]
        offset = extra if offset is None else offset + extra
    return LmmCore(m.terms, X[:, keep], frame.y, weights=frame.weights, offset=offset)


# ---------------------------------------------------------------------------------------------
# optimization of the profiled deviance over the free parameters

def nlopt_min(fun, x0, lower, upper, ftol=1e-8, xtol=1e-8, maxeval=10_000):
    """Minimize fun within box bounds: BOBYQA for two or more parameters, Brent for one."""
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    n = x0.size
    if n == 0:
        return x0, float(fun(x0))
    if n == 1:
        return _scalar_min(fun, x0[0], lower[0], upper[0])
    from ..optim.nlopt import nlopt_minimize

    best = [x0.copy(), math.inf]

    def tracked(x):
        v = fun(x)
        if v < best[1]:
            best[0], best[1] = x.copy(), v
        return v

    # BOBYQA's first trust region must fit inside the bounds
    room = np.minimum(x0 - lower, upper - x0)
    step = np.where(np.abs(x0) > 0, 0.1 * np.abs(x0), 0.1)
    step = np.where(room > 1e-8, np.minimum(step, np.where(np.isfinite(room), room, step)), step)
    try:
        nlopt_minimize(tracked, x0, lower, upper, ftol_abs=ftol, xtol_abs=xtol, maxeval=maxeval,
                       initial_step=np.maximum(step, 1e-6))
    except (RuntimeError, ValueError):
        pass  # its best point so far is still good (NLopt's rounding-error stop returns normally)
    return best[0], float(best[1])


def _scalar_min(fun, x0, lo, hi):
    from scipy.optimize import minimize_scalar

    if lo == 0 and not math.isfinite(hi):  # a scale parameter: search on log scale
        g = lambda t: fun(np.array([math.exp(t)]))  # noqa: E731
        t0 = math.log(max(x0, 1e-8))
        r = minimize_scalar(g, bracket=(t0 - 0.05, t0 + 0.05), method="brent", options={"xtol": 1e-10})
        x = math.exp(r.x)
    else:
        a = lo if math.isfinite(lo) else x0 - 10 * (abs(x0) + 1)
        b = hi if math.isfinite(hi) else x0 + 10 * (abs(x0) + 1)
        r = minimize_scalar(lambda v: fun(np.array([v])), bounds=(a, b), method="bounded",
                            options={"xatol": 1e-10})
        x = r.x
    return np.array([x]), float(fun(np.array([x])))


# ---------------------------------------------------------------------------------------------
# the profile

class Profiler:
    """Everything needed to profile the ML deviance of one fitted model."""

    def __init__(self, m, alphamax=0.01, delta=None, delta_cutoff=1 / 8, maxpts=100, maxmult=10):
        from ..optim.nlopt import DEFAULT_CONTROL

        self.mml = m if not m.reml else _quiet_refit_ml(m)
        f = self.mml
        self.core = f.core
        self.layout = f.core.layout
        self.names = sdcor_names(f) + list(f.fixed.names)
        self.nvp = self.layout.size + 1
        self.p = f.core.p
        self.opt = np.concatenate([theta_to_sdcor(self.layout, f.theta, f.sigma), f.beta])
        self.base = float(f.deviance)
        self.theta_hat = np.asarray(f.theta, dtype=float)
        self.stderr = np.sqrt(np.diag(f.vcov.to_numpy()))
        diag = self.layout.is_diagonal()
        self.lower = np.concatenate([np.where(diag, 0.0, -1.0), [0.0], np.full(self.p, -np.inf)])
        self.upper = np.concatenate([np.where(diag, np.inf, 1.0), [np.inf], np.full(self.p, np.inf)])
        self.cutoff = math.sqrt(chi2_ppf(1 - alphamax, len(self.opt)))
        self.delta = self.cutoff * delta_cutoff if delta is None else float(delta)
        self.maxpts = int(maxpts)
        self.maxmult = float(maxmult)
        self.control = {k: v for k, v in (f.control or DEFAULT_CONTROL).items()}
        self.lower_found = self.base

    # deviance as a function of (sd/cor..., sigma) with beta profiled out
    def dev_vp(self, vp: np.ndarray) -> float:
        theta = sdcor_to_theta(self.layout, vp)
        if theta is None:
            return math.inf
        return self.core.deviance_vp(theta, vp[-1], False)

    def _zeta(self, x: float, pw: float, dev: float) -> float:
        """Signed square root of the deviance increase (a slightly lower deviance counts as 0)."""
        d = dev - self.base
        if d < 0:
            self.lower_found = min(self.lower_found, dev)
            d = 0.0
        return math.copysign(math.sqrt(d), x - pw) if math.isfinite(d) else math.nan

    def vp_point(self, w: int, x: float, start: np.ndarray) -> np.ndarray:
        """Row (zeta, sdcor..., sigma, beta...) with var-comp parameter w held at x."""
        free = [k for k in range(self.nvp) if k != w]

        def fun(z):
            vp = np.empty(self.nvp)
            vp[w] = x
            vp[free] = z
            return self.dev_vp(vp)

        z, dev = nlopt_min(fun, start[free], self.lower[free], self.upper[free])
        vp = np.empty(self.nvp)
        vp[w] = x
        vp[free] = z
        zeta = self._zeta(x, self.opt[w], dev)
        theta = sdcor_to_theta(self.layout, vp)
        beta = self._beta(self.core, theta) if theta is not None else np.full(self.p, np.nan)
        return np.concatenate([[zeta], vp, beta])

    def _beta(self, core, theta):
        f = core.factor(theta)
        return core.solve(f)[0] if f is not None else np.full(core.p, np.nan)

    def fe_point(self, j: int, x: float) -> np.ndarray:
        """Row with fixed effect j held at x: X_j x in the offset, theta optimized (ML)."""
        from ..optim.nlopt import minimize_theta

        keep = [k for k in range(self.p) if k != j]
        core = xy_core(self.mml, keep, shift_col=j, shift=x)
        ctl = dict(self.control)
        ctl["boundary_tol"] = 0.0
        with silenced(ConvergenceWarning):
            theta, dev, _ = minimize_theta(lambda th: core.objective(th, False), self.theta_hat, self.layout.lower(),
                                           ctl, what="the profiled deviance")
        f = core.factor(theta)
        sigma = math.sqrt(f.r2 / core.n)
        beta_rest = core.solve(f)[0]
        beta = np.empty(self.p)
        beta[keep] = beta_rest
        beta[j] = x
        zeta = self._zeta(x, self.opt[self.nvp + j], dev)
        return np.concatenate([[zeta], theta_to_sdcor(self.layout, theta, sigma), beta])

    def _nextpar(self, rows, c, lo, hi):
        """lme4's step rule: a step of delta in zeta, by the slope of the last two points."""
        (p1, z1), (p2, z2) = (rows[-2][c], rows[-2][0]), (rows[-1][c], rows[-1][0])
        num, den = p2 - p1, z2 - z1
        minstep = 1e-6
        if not math.isfinite(den) or den == 0:
            step = minstep
        else:
            step = self.delta * num / den
            if step < 0:
                step = minstep  # the profile went the wrong way: creep on
            elif abs(step) > self.maxmult * abs(num):
                step = self.maxmult * abs(num)
        return min(hi, max(lo, p2 + math.copysign(step, num)))

    def _fill(self, rows, c, lo, hi, point):
        """Extend the profile from the last two rows until |zeta| passes the cutoff or a bound."""
        while (len(rows) < self.maxpts and lo < rows[-1][c] < hi
               and (not math.isfinite(rows[-1][0]) or abs(rows[-1][0]) <= self.cutoff)):
            x = self._nextpar(rows, c, lo, hi)
            rows.append(point(x, rows[-1]))
        return rows

    def profile_one(self, i: int) -> np.ndarray:
        """The profile rows (zeta, parameters...) of parameter i, sorted by its value."""
        c = 1 + i
        row0 = np.concatenate([[0.0], self.opt])
        pw = self.opt[i]
        if i < self.nvp:
            lo, hi = self.lower[i], self.upper[i]
            point = lambda x, prev: self.vp_point(i, x, prev[1: 1 + self.nvp])  # noqa: E731
            shifted = point(min(hi, max(lo, 0.001 if pw == 0 else pw * 1.01)), row0)
        else:
            lo, hi = -np.inf, np.inf
            j = i - self.nvp
            point = lambda x, prev: self.fe_point(j, x)  # noqa: E731
            shifted = point(pw + self.delta * self.stderr[j], row0)
        return self._walk(c, lo, hi, row0, shifted, point)

    def _walk(self, c, lo, hi, row0, shifted, point) -> np.ndarray:
        """Both sides of a profile from the optimum (row0) and a first step (shifted), sorted by the
        profiled parameter (column c), duplicates dropped."""
        pw = row0[c]
        up = self._fill([row0, shifted], c, lo, hi, point)
        down = self._fill([shifted, row0], c, lo, hi, point) if pw > lo else [shifted, row0]
        rows = np.array(up + down[2:])
        rows = rows[np.argsort(rows[:, c], kind="stable")]
        _, keep = np.unique(rows[:, c], return_index=True)
        return rows[np.sort(keep)]


def _quiet_refit_ml(m):
    with silenced(SingularFitWarning):
        return m.refit(REML=False)


class ProfileTable(pd.DataFrame):
    """lme4's profile (``thpr``): one row per profile point.

    Columns: ``parameter`` (the one held fixed), ``value`` (its value), ``zeta`` (signed square
    root of the deviance increase), then every parameter at that point. ``confint(level)`` gives
    the profile intervals.
    """

    _metadata = ["lower_bounds", "upper_bounds"]

    @property
    def _constructor(self):
        return ProfileTable

    def confint(self, level: float = 0.95, parm=None) -> pd.DataFrame:
        a = (1 - level) / 2
        z = norm_ppf([a, 1 - a])
        names = list(dict.fromkeys(self["parameter"]))
        if parm is not None:
            names = [n for n in select_parameters(parm, names)]
        out = np.full((len(names), 2), np.nan)
        lo_b = getattr(self, "lower_bounds", {}) or {}
        hi_b = getattr(self, "upper_bounds", {}) or {}
        for k, name in enumerate(names):
            sub = self[self["parameter"] == name]
            x = sub["value"].to_numpy(dtype=float)
            zeta = sub["zeta"].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(zeta)
            vals = _invert_profile(x[ok], zeta[ok], z, name)
            if vals is None:
                continue
            if math.isnan(vals[0]):
                vals[0] = lo_b.get(name, -np.inf)
            if math.isnan(vals[1]):
                vals[1] = hi_b.get(name, np.inf)
            out[k] = vals
        return pd.DataFrame(out, index=names, columns=percent_labels(level))


def _invert_profile(x, zeta, z, name, non_mono_tol=1e-2):
    """Values of x where the profile's zeta equals z: R's backSpline of interpSpline(zeta ~ x)."""
    if len(x) < 2:
        return None
    try:
        return _back_spline(x, zeta, z)
    except ValueError:
        if np.min(np.diff(zeta)) < -non_mono_tol:
            warn(f"non-monotonic profile for {name}", MixedModelWarning, stacklevel=4)
            return None
        warn(f"bad spline fit for {name}: falling back to linear interpolation", MixedModelWarning,
             stacklevel=4)
        return np.interp(z, zeta, x, left=np.nan, right=np.nan)


def _back_spline(x, zeta, z):
    """Invert the natural cubic interpolating spline zeta(x) as R's backSpline does.

    On each interval between knots the inverse x(zeta) is the cubic that matches both knot values
    and the inverse slopes 1/zeta'(x) there; the two end intervals are quadratics that drop the
    outer slope (made linear if the quadratic would bend outward). Outside the knots: NaN.
    """
    if len(x) == 2:
        return np.interp(z, zeta, x, left=np.nan, right=np.nan) if zeta[1] > zeta[0] else None
    fwd = CubicSpline(x, zeta, bc_type="natural")
    slope = fwd(x, 1)
    dz = np.diff(zeta)
    if not (np.all(dz > 0) and np.all(slope > 0)):
        raise ValueError("spline must be monotone")
    b = 1.0 / slope
    dx = np.diff(x)
    k = len(x) - 1
    c2, c3, c4 = b[:-1].copy(), np.zeros(k), np.zeros(k)
    for i in range(k):  # Hermite: x_i + b_i t + c3 t^2 + c4 t^3 hits x_{i+1} with slope b_{i+1}
        A = np.array([[dz[i] ** 2, dz[i] ** 3], [2 * dz[i], 3 * dz[i] ** 2]])
        c3[i], c4[i] = np.linalg.solve(A, [dx[i] - dz[i] * b[i], b[i + 1] - b[i]])
    # first interval: quadratic through both ends with the right-hand slope
    A = np.array([[dz[0], dz[0] ** 2], [1.0, 2 * dz[0]]])
    c2[0], c3[0] = np.linalg.solve(A, [dx[0], b[1]])
    c4[0] = 0.0
    # last interval: quadratic from the left value and slope to the right value
    c4[-1] = 0.0
    c3[-1] = (dx[-1] - dz[-1] * c2[-1]) / dz[-1] ** 2
    if c3[0] > 0:
        c3[0], c2[0] = 0.0, dx[0] / dz[0]
    if c3[-1] < 0:
        c3[-1], c2[-1] = 0.0, dx[-1] / dz[-1]
    out = np.full(len(z), np.nan)
    for n, v in enumerate(np.atleast_1d(z)):
        if zeta[0] <= v <= zeta[-1]:
            i = min(int(np.searchsorted(zeta, v, side="right")) - 1, k - 1)
            t = v - zeta[i]
            out[n] = x[i] + c2[i] * t + c3[i] * t * t + c4[i] * t ** 3
    return out


def select_parameters(parm, names):
    if parm is None:
        return names
    if isinstance(parm, str):
        if parm == "theta_":
            return [n for n in names if n.startswith(("sd_", "cor_")) or n == "sigma"]
        if parm == "beta_":
            return [n for n in names if not (n.startswith(("sd_", "cor_")) or n == "sigma")]
        parm = [parm]
    out = []
    for p in parm:
        if isinstance(p, (int, np.integer)):
            if not 0 <= p < len(names):
                raise ArgumentError(f"parameter index {p} out of range; there are {len(names)} parameters")
            out.append(names[p])
        elif p in names:
            out.append(p)
        else:
            raise ArgumentError(f"unknown parameter {p!r}; the parameters are {names}")
    return out


def _profile_worker(args):
    prof, i = args
    return prof.profile_one(i)


def profile(m, which=None, alphamax: float = 0.01, maxpts: int = 100, delta=None, delta_cutoff: float = 1 / 8,
            maxmult: float = 10, n_jobs: int = 1, progress=None) -> ProfileTable:
    """lme4's ``profile(m)`` on the sd/correlation scale (``signames = FALSE``): a ProfileTable.

    ``which``: parameter names or 0-based positions (default all; ``"theta_"`` or ``"beta_"`` for
    the variance or fixed-effect parameters). ``alphamax``, ``maxpts``, ``delta``, ``delta_cutoff``,
    ``maxmult`` as in lme4. ``n_jobs > 1`` profiles the parameters in worker processes.
    ``progress``: a tqdm bar per parameter (None: only on a terminal; see progress.py).
    """
    prof = Profiler(m, alphamax=alphamax, delta=delta, delta_cutoff=delta_cutoff, maxpts=maxpts, maxmult=maxmult)
    check = prof.dev_vp(prof.opt[: prof.nvp])
    if not abs(check - prof.base) <= 1e-5 * max(1.0, abs(prof.base)):
        raise FitError("the deviance on the sd/correlation scale does not match the ML fit "
                            f"({check} vs {prof.base}); profiling is not possible")
    names = select_parameters(which, prof.names)
    idx = [prof.names.index(n) for n in names]
    if n_jobs and n_jobs > 1 and len(idx) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(n_jobs, len(idx))) as ex:
            results = list(ex.map(_profile_worker, [(prof, i) for i in idx]))
    else:
        from ..progress import progress_bar

        bar = progress_bar(len(idx), progress, "profile", unit="parameter")
        results = []
        for i in idx:
            results.append(prof.profile_one(i))
            bar.update(1)
        bar.close()
    return assemble_profile(prof, names, idx, results)


def assemble_profile(prof, names, idx, results) -> ProfileTable:
    """The ProfileTable of a profiler's rows (one array per profiled parameter)."""
    if prof.lower_found < prof.base - getattr(prof, "lower_tol", 1e-6):
        warn(f"profiling found a deviance lower than the fit's ({prof.lower_found:.6f} < {prof.base:.6f}): "
             "the fit had not quite converged; the intervals use the fit's deviance",
             ConvergenceWarning, stacklevel=3)
    frames = []
    for name, i, rows in zip(names, idx, results):
        df = pd.DataFrame(rows[:, 1:], columns=prof.names)
        df.insert(0, "zeta", rows[:, 0])
        df.insert(0, "value", rows[:, 1 + i])
        df.insert(0, "parameter", name)
        frames.append(df)
    out = ProfileTable(pd.concat(frames, ignore_index=True))
    out.lower_bounds = dict(zip(prof.names, prof.lower))
    out.upper_bounds = dict(zip(prof.names, prof.upper))
    return out


# ---------------------------------------------------------------------------------------------
# confint

def confint(m, method: str = "profile", level: float = 0.95, parm=None, nsim: int = 500, seed=None,
            boot_type: str = "perc", n_jobs: int = 1, progress=None, **kwargs) -> pd.DataFrame:
    """lme4's ``confint(m, method=, level=, oldNames=FALSE)``; columns "2.5 %", "97.5 %" (by level).

    ``method``: "profile" (default), "Wald" (fixed effects only) or "boot" (``nsim`` parametric
    bootstrap refits, ``seed``, ``n_jobs`` worker processes, ``progress`` bar; ``boot_type`` "perc",
    "basic" or "norm"). ``parm`` selects rows by name, position, "theta_" or "beta_". Other keyword
    arguments go to :func:`profile` (e.g. ``alphamax``) or to the bootstrap.
    """
    level = check_level(level)
    key = str(method).lower()
    if key == "wald":
        a = (1 - level) / 2
        se = np.sqrt(np.diag(m.vcov.to_numpy()))
        z = norm_ppf([a, 1 - a])
        ci = pd.DataFrame(m.beta[:, None] + se[:, None] * z[None, :], index=list(m.fixed.names),
                          columns=percent_labels(level))
        if parm is not None:
            names = sdcor_names(m) + list(m.fixed.names)
            ci = ci.loc[[n for n in select_parameters(parm, names) if n in ci.index]]
        return ci
    if key == "profile":
        names = sdcor_names(m) + list(m.fixed.names)
        which = select_parameters(parm, names) if parm is not None else None
        return profile(m, which=which, n_jobs=n_jobs, **kwargs).confint(level)
    if key == "boot":
        return _boot_confint(m, level, parm, nsim, seed, boot_type, n_jobs, progress, **kwargs)
    raise ArgumentError(f"unknown method {method!r}; use 'profile', 'Wald' or 'boot'")


def all_parameters(fit) -> np.ndarray:
    """sd's and correlations, sigma (where the model has one), fixed effects of a fit (lme4's
    bootFun in confint.merMod)."""
    sd = theta_to_sdcor(_layout(fit), fit.theta, fit.sigma, undefined=np.nan)
    return np.concatenate([sd if _has_sigma(fit) else sd[:-1], fit.beta])


def _boot_confint(m, level, parm, nsim, seed, boot_type, n_jobs, progress, **kwargs):
    from .simulate import bootstrap

    names = sdcor_names(m) + list(m.fixed.names)
    boot = bootstrap(m, all_parameters, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs)
    boot.t.columns = names
    boot.t0.index = names
    ci = boot.confint(level=level, type=boot_type)
    if parm is not None:
        ci = ci.loc[select_parameters(parm, names)]
    return ci
