"""Summary data of a fit (first), rendered as R's text by report.lme4_print (second).

``str(m.summary())`` is lmerTest's printed summary; ``.data`` holds the numbers behind it.
"""
from __future__ import annotations

import numpy as np

from .lme4_print import GlmerSummary, LmerSummary, VarCorrGroup, render_glmer_summary, render_lmer_summary

__all__ = ["Summary", "TextSummary", "lmer_summary", "glmer_summary", "glmer_summary_data", "varcorr_groups",
           "fixef_correlation"]


class Summary:
    """A printed summary: ``str()`` gives R's text, ``.data`` the numbers."""

    def __init__(self, data, render):
        self.data = data
        self._render = render

    def __str__(self) -> str:
        return self._render(self.data)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from .html import text_block

        return text_block(str(self))

    def _repr_markdown_(self) -> str:
        return f"```\n{self}\n```"

    def to_frame(self):
        """The fixed-effects table as a DataFrame."""
        return self.data.coef


def varcorr_groups(labels, terms, templates, scale: float) -> list[VarCorrGroup]:
    """Standard deviations and correlations of each term: Sigma_k = scale^2 T_k T_k'.

    Parameters
    ----------
    labels : sequence of str
        The printed group names, one per random term.
    terms : sequence
        The random terms (their ``p`` and ``names``).
    templates : sequence of numpy.ndarray
        The relative covariance factors T_k.
    scale : float
        sigma (1 for families without a scale).

    Returns
    -------
    list of VarCorrGroup
        One block of the "Random effects:" table per term.
    """
    out = []
    for name, t, T in zip(labels, terms, templates):
        C = scale ** 2 * (T @ T.T)
        sd = np.sqrt(np.diag(C))
        corr = None
        if t.p > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = C / np.outer(sd, sd)
            corr[~np.isfinite(corr)] = np.nan     # a zero sd: its correlations are undefined
            np.fill_diagonal(corr, 1.0)
        out.append(VarCorrGroup(name, list(t.cnames), sd, corr, structure=t.term.structure))
    return out


def fixef_correlation(vcov: np.ndarray) -> np.ndarray | None:
    """The correlations of the fixed effects, from their covariance matrix.

    Parameters
    ----------
    vcov : numpy.ndarray
        The covariance matrix of the fixed effects.

    Returns
    -------
    numpy.ndarray or None
        The correlation matrix; None for fewer than two coefficients (nothing to print).
    """
    if vcov.shape[0] < 2:
        return None
    sd = np.sqrt(np.diag(vcov))
    return vcov / np.outer(sd, sd)


def fit_messages(m) -> list[str]:
    """The lines lme4's ``.prt.warn`` prints at the end of the summary (none for a clean fit).

    "optimizer (nloptwrap) convergence code: 0 (OK)" (or the code and nloptr's message), then lme4's
    convergence messages (singular fit; failed gradient or Hessian checks), then the optimizer's
    warning; see :func:`mixedmodels.optim.convergence.lmer_convergence`.

    Parameters
    ----------
    m : LmerResult
        The fit.

    Returns
    -------
    list of str
        The lines.
    """
    return m.convergence.summary_lines()


def weights_name(m) -> str | None:
    """What the summary's "Weights:" line names: the column (or named Series) given as ``weights``,
    "<array>" for weights given as a plain array (R would deparse the argument's expression; an array
    has none), None for an unweighted fit.

    Parameters
    ----------
    m : LmerResult
        The fit.

    Returns
    -------
    str or None
        The name.
    """
    if m.frame.weights is None:
        return None
    name = m.weights_name
    return name or "<array>"


def _fit_warnings(m) -> list[str]:
    """What lme4 keeps of the fit's warnings and prints under "fit warnings:": the rank-deficiency
    message of the fixed-effect matrix and check.scaleX's message, in that order."""
    from ..design.fixed import scale_problem

    out = []
    k = len(m.fixed.dropped)
    if k:
        out.append(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''} / "
                   f"coefficient{'s' if k > 1 else ''}")
    if scale_problem(m.fixed.X):
        out.append("Some predictor variables are on very different scales: consider rescaling")
    return out


def lmer_summary(m, ddf: str) -> Summary:
    """lmerTest's ``summary(m, ddf = ddf)`` of a linear mixed model.

    Parameters
    ----------
    m : LmerResult
        The fit.
    ddf : str
        "Satterthwaite", "Kenward-Roger" or "lme4" (lme4's summary, without df and p-values).

    Returns
    -------
    Summary
        ``str()`` gives R's printed text, ``.data`` the :class:`LmerSummary` behind it.
    """
    sigma = m.sigma
    res = m.residuals.to_numpy()
    if m.frame.weights is not None:
        res = res * np.sqrt(m.frame.weights)  # R scales Pearson residuals
    data = LmerSummary(
        reml=m.reml, ddf=ddf, formula=m.formula, data_name=m.data_name,
        reml_criterion=m.reml_criterion, aic=m.aic, bic=m.bic, loglik=m.loglik, deviance=m.deviance,
        df_resid=m.df_resid, scaled_residuals=res / sigma,
        varcorr=varcorr_groups(m.group_labels, m.terms, m.templates, sigma), residual_sd=sigma,
        nobs=m.nobs, ngroups=list(m.ngroups.items()), coef=m.coef_table(ddf),
        corr_fixef=fixef_correlation(m.vcov.to_numpy()), messages=fit_messages(m),
        weights=weights_name(m),
        fit_warnings=_fit_warnings(m))
    return Summary(data, render_lmer_summary)


class TextSummary(str):
    """A printed summary that is a str (a GLMM's, as glmer has always returned it), with the data
    behind it in ``.data``.

    ``gm.summary()`` returns one: print it for lme4's ``print(summary(gm))``; every str method
    works on it.

    Attributes
    ----------
    data : GlmerSummary or None
        The numbers behind the text (family, link, coefficients, random effects, ...).

    Examples
    --------
    >>> s = gm.summary()
    >>> print("\\n".join(s.splitlines()[:3]))
    Generalized linear mixed model fit by maximum likelihood (Laplace
      Approximation) [glmerMod]
     Family: binomial  ( logit )
    >>> s.data.nobs, s.data.family, s.data.link
    (56, 'binomial', 'logit')
    """

    data = None

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:  # notebooks: R's columns kept in a monospace block
        from .html import text_block

        return text_block(str(self))


def glmer_summary(m, correlation: bool | None = None, scaled_residuals=None) -> TextSummary:
    """lme4's ``print(summary(m))`` of a GLMM, a str with :class:`GlmerSummary` in ``.data``;
    ``scaled_residuals``: the Pearson residuals (or their five quantiles, which R's quantiles give
    back), where the fit does not hold them (a Dask fit)."""
    data = glmer_summary_data(m, scaled_residuals)
    out = TextSummary(render_glmer_summary(data, correlation=correlation))
    out.data = data
    return out


def glmer_summary_data(m, scaled_residuals=None) -> GlmerSummary:
    """The numbers of lme4's ``summary()`` of a GLMM (:class:`GlmerSummary`); the fixed effects'
    column is "t value" for a family with a scale (Gamma, inverse Gaussian), as lme4 prints it."""
    coef = m.coef_table()
    if m.has_scale:
        coef = coef.rename(columns={"z value": "t value"})
    V = m.vcov.to_numpy()
    d = np.sqrt(np.diag(V))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr_fixef = V / np.outer(d, d)
    return GlmerSummary(
        family=m.family.label, link=m.family.link, nagq=m.nagq, formula=m.formula, data_name=m.data_name,
        aic=m.aic, bic=m.bic, loglik=m.loglik, deviance=-2.0 * m.loglik, df_resid=m.df_resid,
        scaled_residuals=(m.resid("pearson", scaled=True).to_numpy() if scaled_residuals is None
                          else np.asarray(scaled_residuals, dtype=float)),
        varcorr=varcorr_groups(m.group_labels, m.terms, m.templates, m.sigma), nobs=m.nobs,
        ngroups=list(m.ngroups.items()), coef=coef, corr_fixef=corr_fixef, messages=list(m.messages),
        residual_sd=m.sigma if m.has_scale else None, weights=m.weights_name)
