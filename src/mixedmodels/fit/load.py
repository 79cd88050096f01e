"""load_result(): a fit saved by ``m.save(path)`` rebuilt, number for number, without optimizing (lmer and glmer fits).

The stages of :func:`~mixedmodels.fit.lmer.lmer` from the saved rows (formula, model frame, design,
core), with the saved theta: no optimization, so every number equals the saved fit's. The file is
untrusted input: :mod:`mixedmodels.io.read` checks every field first (see its limits), the formula
passes the closed evaluator, the model matrices' size is bounded before they are built, and a
rebuilt model must reproduce the saved observations, coefficient names, levels and criterion.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..core.lmm import LmmCore
from ..design.fixed import fixed_design
from ..design.frame import model_frame
from ..design.random import check_terms, random_terms
from ..errors import PersistError, silenced
from ..formula.parse import parse_formula
from ..io.format import check_formula
from ..io.limits import check_design_size
from ..io.read import bad, read_saved, reported_as_bad_file
from ..optim.nlopt import OptInfo
from ..results.lmer import LmerResult
from .lmer import fit_core

__all__ = ["load_result"]


def load_result(path, *, max_bytes: int | None = None) -> LmerResult:
    """Read a file written by ``m.save(path)``: the same fit, every number identical, nothing refitted.

    Parameters
    ----------
    path : str or Path
        A file written by :meth:`LmerResult.save` (plain or gzip-compressed JSON).
    max_bytes : int, optional
        The largest JSON text accepted, in bytes. By default a gzip file may decompress to at most
        32 times its size (at least 16 MiB), and no text may exceed 512 MiB (see
        :mod:`mixedmodels.io.limits`); pass a larger number for a large file you trust.

    Returns
    -------
    LmerResult or GlmerResult
        The fit as it was saved.

    Raises
    ------
    PersistError
        If the file is missing, too large, not a mixedmodels result, written by another version,
        damaged, or edited so that it no longer describes a fit (whatever its checksum says).
        Nothing in the file is executed.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sleep.json.gz")
    >>> m.save(path).name
    'sleep.json.gz'
    >>> m2 = mm.load_result(path)
    >>> m2.fixef.equals(m.fixef), m2.theta.tolist() == m.theta.tolist()
    (True, True)
    """
    p = read_saved(path, max_bytes)
    with reported_as_bad_file(path):
        return _rebuild_glmer(p) if "glmer" in p else _rebuild(p)


def _rebuild(p: dict) -> LmerResult:
    """The fit from a checked payload (:func:`~mixedmodels.io.read.read_saved`): design, core, theta."""
    chk = p["check"]
    data = p["frame"]
    check_formula(p["formula"], list(data.columns))
    weights = None if p["weights"] is None else np.asarray(p["weights"], dtype=float)
    offset = None if p["offset"] is None else np.asarray(p["offset"], dtype=float)
    with silenced():  # the original fit said it all already
        parsed = parse_formula(p["formula"])
        check_design_size(parsed, data)
        frame = model_frame(parsed, data, weights=weights)
        # the stored offset is the total (argument + offset() terms): use it as is
        frame = replace(frame, offset=offset)
        fixed = fixed_design(parsed, frame)
        terms = random_terms(parsed, frame)
        check_terms(terms, len(frame.y))
        core = LmmCore(terms, fixed.X, frame.y, weights=frame.weights, offset=frame.offset)
    theta = np.asarray(p["theta"], dtype=float)
    mismatch = PersistError("the saved data do not rebuild the saved model (different columns, levels or "
                            "criterion); refit the model from its data")
    if not (len(frame.y) == chk["nobs"] and list(fixed.names) == chk["fixef_names"]
            and {t.group: list(t.levels) for t in terms} == chk["groups"] and theta.size == core.layout.size):
        raise mismatch
    if not np.all(theta >= core.layout.lower()):
        raise bad("theta has a negative standard deviation factor (a diagonal entry below 0)")
    # A fitted core settles on its way of forming the Schur block at its second evaluation, during the
    # optimization; two evaluations put the rebuilt core on the same path, so that its numbers are the
    # same to the last bit (a fresh core's first factorizations may differ there by rounding).
    with silenced(), np.errstate(all="ignore"):  # a crafted theta may overflow; the check below refuses it
        for _ in range(2):
            core.objective(theta, p["REML"])
    oi = p["optinfo"]
    info = OptInfo(oi["optimizer"], oi["nevals"], oi["code"], oi["message"], oi["converged"])
    m = LmerResult(formula=parsed.text, reml=p["REML"], data_name=p["data_name"], parsed=parsed,
                   frame=frame, fixed=fixed, terms=terms, core=core, theta=theta, optimizer_report=info,
                   control=p["control"], weights_name=p["weights_name"] if frame.weights is not None else None,
                   fitter=fit_core)
    with silenced(), np.errstate(all="ignore"):
        same = math.isclose(m.objective, chk["objective"], rel_tol=1e-9, abs_tol=1e-9)
    if not same:
        raise mismatch
    return m


def _rebuild_glmer(p: dict):
    """A GLMM from a checked payload: glmer's setup from the saved rows, the family's model, and the
    PIRLS fit at the saved (theta, beta) from the saved starting linear predictor (the deviance
    function's own start), so that the deviance and the conditional modes are the saved fit's; the
    saved derivatives give vcov. Nothing is optimized."""
    from ..glmm import families
    from ..glmm.deviance import Stage2Deviance
    from .glmer import GlmerFit, check_agq_terms, glmer_result
    from .glmer_setup import family_model, glmer_setup

    g, chk, data = p["glmer"], p["check"], p["frame"]
    check_formula(p["formula"], list(data.columns))
    spec = g["family"]
    cls = getattr(families, spec["class"])
    fam = cls(spec["theta"], link=spec["link"]) if spec["class"] == "NegativeBinomial" else cls(link=spec["link"])
    weights = None if p["weights"] is None else np.asarray(p["weights"], dtype=float)
    offset = None if p["offset"] is None else np.asarray(p["offset"], dtype=float)
    with silenced():
        check_design_size(parse_formula(p["formula"]), data)
        setup = glmer_setup(p["formula"], data, fam, weights, None, p["data_name"])
        # the stored offset is the total (argument + offset() terms): use it as is
        setup = replace(setup, offset=offset, frame=replace(setup.frame, offset=offset),
                        weights_name=p["weights_name"] if weights is not None else None)
        check_agq_terms(g["nAGQ"], setup.terms)
        model, _ = family_model(setup, fam, p["control"])
    theta, beta = np.asarray(p["theta"], dtype=float), np.asarray(g["beta"], dtype=float)
    mismatch = PersistError("the saved data do not rebuild the saved model (different columns, levels or "
                            "deviance); refit the model from its data")
    if not (model.n == chk["nobs"] and list(setup.fixed.names) == chk["fixef_names"]
            and {t.group: list(t.levels) for t in setup.terms} == chk["groups"] and theta.size == model.layout.size):
        raise mismatch
    if not np.all(theta >= model.layout.lower()):
        raise bad("theta has a negative standard deviation factor (a diagonal entry below 0)")
    lp0 = np.asarray(g["lp0"], dtype=float)
    s2 = Stage2Deviance(model, g["nAGQ"], lp0)
    with silenced(), np.errstate(all="ignore"):
        r = s2.pirls(np.concatenate([theta, beta]))
        value = float(s2.value(r))
    if not math.isclose(value, chk["objective"], rel_tol=1e-9, abs_tol=1e-9):
        raise mismatch
    oi = p["optinfo"]
    info = OptInfo(oi["optimizer"], oi["nevals"], oi["code"], oi["message"], oi["converged"])
    arr = (lambda v: None if v is None else np.asarray(v, dtype=float))
    fit = GlmerFit(theta, beta, value, r, info, arr(g["hessian"]), arr(g["gradient"]), [], [], lp0=lp0,
                   hessian_scale=arr(g["hessian_scale"]))
    with silenced():
        return glmer_result(setup, fam, g["nAGQ"], p["control"], model, fit, warn=False, nb_theta=g["nb_theta"])
