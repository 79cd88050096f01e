"""Write a fitted lmer or glmer model to a file: JSON data, never code (no pickle).

The file (format :data:`~mixedmodels.io.format.FORMAT`) holds the formula, REML, the data name, the
rows the model used (only the columns the formula names, with their types and factor levels, and
the row labels with their types and names), the weights, their name and the offset, theta, the
optimizer's report, the control settings and the package version, and for a GLMM its family,
nAGQ, beta, PIRLS's starting linear predictor and the derivatives behind vcov;
:func:`mixedmodels.fit.load.load_result`
rebuilds the fit from it, number for number.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.lmm import LmmCore
from ..errors import PersistError
from .format import (FORMAT, FORMAT_VERSION, NULLABLE_TYPES, NUMPY_TYPES, TEXT_TYPES, TIME_TYPE, check_formula,
                     digest, package_version)

__all__ = ["save_result"]


def save_result(m, path) -> Path:
    """Write a fitted model to a JSON file, gzip-compressed when the name ends in ``.gz``.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit, from :func:`mixedmodels.lmer` or :func:`mixedmodels.glmer` (``nAGQ >= 1``).
    path : str or Path
        Where to write.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    PersistError
        If ``m`` is not an lmer or glmer fit (or a glmer fit with nAGQ = 0), its formula calls functions a saved model may not use, or
        its data hold values that are not plain numbers, text, dates or categories.
    """
    glmer = _glmer_fields(m) if hasattr(m, "model") and hasattr(m, "nagq") else None  # a GlmerResult
    if glmer is None and (not isinstance(getattr(m, "core", None), LmmCore) or not hasattr(m, "reml")):
        raise PersistError(f"only lmer() and glmer() results can be saved, not {type(m).__name__}")
    fr = m.frame
    check_formula(m.formula, list(fr.variables))
    weights = fr.weights if glmer is None else m.setup.prior_weights
    offset = fr.offset if glmer is None else m.setup.offset
    payload = {
        "format_version": FORMAT_VERSION,
        "package_version": package_version(),
        "formula": m.formula,
        "REML": bool(getattr(m, "reml", False)),
        "data_name": str(m.data_name),
        "control": _jsonable(m.control, "control"),
        "theta": [float(v) for v in np.asarray(m.theta, dtype=float)],
        "optinfo": {k: getattr(m.optinfo, k) for k in ("optimizer", "nevals", "code", "message", "converged")},
        "data": _frame_to_json(fr.data, list(fr.variables)),
        "weights": None if weights is None else [float(v) for v in weights],
        # what the summary's "Weights:" line names (a column, a Series' name); kept by fit.py beside the fields
        "weights_name": m.weights_name,
        "offset": None if offset is None else [float(v) for v in offset],
        # what the rebuilt model must reproduce
        "check": {"nobs": int(m.nobs), "fixef_names": list(m.fixed.names), "objective": float(m.objective),
                  "groups": {t.group: list(t.levels) for t in m.terms}},
    }
    if glmer is not None:
        payload["glmer"] = glmer
    doc = {"format": FORMAT, "sha256": digest(payload), "payload": payload}
    text = json.dumps(doc, separators=(",", ":"), allow_nan=True)
    path = Path(path)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _glmer_fields(m) -> dict:
    """What a GLMM's rebuild needs beyond lmer's fields: the family, nAGQ, beta, the linear
    predictor every PIRLS starts from, and the finite-difference derivatives behind vcov (kept,
    so that the rebuilt fit's standard errors are the saved ones without recomputing them)."""
    if m.nagq == 0 or m.lp0 is None:
        raise PersistError("a glmer fit with nAGQ = 0 cannot be saved yet (its fixed effects come from "
                           "PIRLS, not from a state the file can hold); refit with nAGQ = 1 to save it")
    fam = m.family

    def arr(v):
        return None if v is None else np.asarray(v, dtype=float).tolist()

    return {"family": {"class": type(fam).__name__, "link": str(fam.link),
                       "theta": None if getattr(fam, "theta", None) is None else float(fam.theta)},
            "nAGQ": int(m.nagq), "beta": arr(m.beta), "lp0": arr(m.lp0), "hessian": arr(m.hessian),
            "gradient": arr(m.gradient), "hessian_scale": arr(m.hessian_scale),
            "nb_theta": None if m.nb_theta is None else float(m.nb_theta)}


def _jsonable(value, what):
    """Plain JSON values (numpy scalars become Python ones); anything else is refused."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, what) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, what) for v in value]
    raise PersistError(f"cannot save {what}: {type(value).__name__} {value!r} is not plain data")


def _scalar(v, what):
    """One value of a column: None, bool, int, float or str (missing values become None)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (str, int, float, np.integer, np.floating)):
        return _jsonable(v, what)
    raise PersistError(f"cannot save {what}: {type(v).__name__} {v!r} is not a number, text or missing value; "
                       "convert the column and refit")


def _values_to_json(s: pd.Series, what: str) -> dict:
    dtype = s.dtype
    name = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = [_scalar(v, f"the levels of {what}") for v in dtype.categories.tolist()]
        return {"dtype": "category", "kind": "category", "ordered": bool(dtype.ordered), "categories": cats,
                "values": [int(c) for c in s.cat.codes]}
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        if not TIME_TYPE.fullmatch(name):
            raise PersistError(f"cannot save {what} of type {name}; convert it to numbers and refit")
        ix = pd.TimedeltaIndex(s) if name.startswith("timedelta") else pd.DatetimeIndex(s)
        return {"dtype": name, "kind": "datetime", "values": [int(v) for v in ix.asi8]}  # UTC instants
    if name not in NUMPY_TYPES | NULLABLE_TYPES | TEXT_TYPES | {"object"}:
        raise PersistError(f"cannot save {what} of type {name}; convert it to numbers, text or a categorical "
                           "column and refit")
    return {"dtype": name, "kind": "object" if name == "object" else "plain",
            "values": [_scalar(v, what) for v in s.tolist()]}


def _label(name):
    # a column or index name as JSON: text, a whole number or None; anything else as its text
    if name is None or isinstance(name, str) or (isinstance(name, (int, np.integer)) and not isinstance(name, bool)):
        return None if name is None else _jsonable(name, "a name")
    return str(name)


def _labels_to_json(level: pd.Index) -> dict:
    try:
        return _values_to_json(pd.Series(level, dtype=level.dtype, copy=False), "the row labels")
    except PersistError:  # labels of another type (periods, intervals, ...) come back as their text
        return {"dtype": "object", "kind": "object", "values": [str(v) for v in level]}


def _frame_to_json(data: pd.DataFrame, columns: list[str]) -> dict:
    cols = [{"name": str(name), **_values_to_json(data[name], f"column {name!r}")} for name in columns]
    idx = data.index
    if type(idx) is pd.RangeIndex:
        index = {"kind": "range", "start": idx.start, "stop": idx.stop, "step": idx.step,
                 "names": [_label(idx.name)]}
    else:
        levels = [_labels_to_json(lv) for lv in map(idx.get_level_values, range(idx.nlevels))]
        index = {"kind": "multi" if isinstance(idx, pd.MultiIndex) else "flat",
                 "names": [_label(v) for v in idx.names], "levels": levels}
    return {"index": index, "columns": cols}
