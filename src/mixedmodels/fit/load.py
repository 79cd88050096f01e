"""load_result(): a fit saved by ``m.save(path)`` rebuilt, number for number, without optimizing.

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
    LmerResult
        The fit as it was saved.

    Raises
    ------
    PersistError
        If the file is missing, too large, not a mixedmodels result, written by another version,
        damaged, or edited so that it no longer describes a fit (whatever its checksum says).
        Nothing in the file is executed.
    """
    p = read_saved(path, max_bytes)
    with reported_as_bad_file(path):
        return _rebuild(p)


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
