"""Read a file written by ``m.save(path)`` (:mod:`mixedmodels.io.save`): its payload, every field checked.

:func:`mixedmodels.fit.load.load_result` rebuilds the fit from what this returns.

The file is JSON, data and never code (its fields: :mod:`mixedmodels.io.save`). The fit is rebuilt
from the saved rows and theta, without optimizing, so every number equals the saved fit's.

A file is untrusted input: anyone can edit it and recompute its SHA-256, which therefore only
catches accidental damage. A damaged or crafted file is refused with a
:class:`~mixedmodels.errors.PersistError`, quickly and in bounded memory, and runs no code
(the limits are constants of :mod:`mixedmodels.io.limits`):

* a file larger than ``MAX_FILE_BYTES`` (512 MiB) is not read; a gzip file is decompressed in 1 MiB
  steps and refused once its text exceeds ``GZIP_RATIO`` (32) times the file's size, at least 16 MiB
  and at most ``MAX_JSON_BYTES`` (512 MiB) (``load_result(path, max_bytes=...)`` sets another
  limit, for a large file you trust); truncated or corrupt gzip data, or data after it, are refused;
* JSON nested deeper than ``MAX_DEPTH`` (16) is refused by a linear scan before it is parsed;
* every field's type is checked; column and row-label types come from a fixed list (no dtype
  string from the file reaches numpy or pandas unchecked); every length, factor code and integer
  range is checked before an array is built;
* the formula passes the closed evaluator (:mod:`mixedmodels.formula.evaluate`, the gate that fitting and
  prediction use) before anything evaluates it: only the saved column names, numbers, operators
  and the allowed functions (log, exp, sqrt, I, poly, scale, factor, ...); no attribute access, no
  Python builtin, and a column named like a module path is only ever a column;
* an upper bound on the model matrices' size (rows x columns, from the formula and the factors'
  levels) must be within ``MAX_DESIGN_CELLS`` before formulaic builds them, so that a short formula
  such as ``x1*x2*...*x20`` cannot ask for a million columns;
* whatever else goes wrong while rebuilding is reported as a PersistError, and a rebuilt model
  must reproduce the saved observations, coefficient names, levels and criterion.

A file written by another version of the package (or of the format) is refused, because its
numbers could differ.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PersistError
from .format import (FORMAT, FORMAT_VERSION, MAX_COLUMNS, MAX_NAME, NULLABLE_TYPES, NUMPY_TYPES, TEXT_TYPES,
                     TIME_TYPE, digest, package_version)
from ..optim.nlopt import check_control
from .limits import read_document

__all__ = ["read_saved", "bad", "reported_as_bad_file"]


def bad(msg: str) -> PersistError:
    """The error for a file whose content is not what save_result writes."""
    return PersistError(f"{msg}; the file is damaged or was edited: refit the model and save it again")


def _need(ok, msg: str) -> None:
    if not ok:
        raise bad(msg)


def read_saved(path, max_bytes: int | None = None) -> dict:
    """The payload of a saved fit, checked: format, checksum, version, and every field's type and size.

    Parameters
    ----------
    path : str or Path
        A file written by ``m.save(path)`` (plain or gzip-compressed JSON).
    max_bytes : int, optional
        The largest JSON text accepted (see :func:`mixedmodels.io.limits.read_document`).

    Returns
    -------
    dict
        The payload's fields, and ``"frame"``: the saved rows as a DataFrame with their types.

    Raises
    ------
    PersistError
        If the file is missing, too large, not a mixedmodels result, written by another version or
        of another format, or damaged. Nothing in the file is executed.
    """
    path = Path(path)
    doc = read_document(path, max_bytes)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("payload"), dict):
        raise PersistError(f"{str(path)!r} is not a saved mixedmodels result (format {FORMAT!r} expected)")
    payload = doc["payload"]
    if doc.get("sha256") != digest(payload):
        raise PersistError(f"{str(path)!r} does not match its checksum (SHA-256): it was changed after it was "
                           "saved, or is damaged; refit the model and save it again")
    saved, ours = payload.get("package_version"), package_version()
    if saved != ours:
        raise PersistError(f"{str(path)!r} was saved by mixedmodels {str(saved)[:40]}, this is {ours}: its numbers "
                           f"might differ here, so it is not loaded; load it with mixedmodels {str(saved)[:40]}, "
                           "or refit")
    if payload.get("format_version") != FORMAT_VERSION:
        raise PersistError(f"{str(path)!r} has file format {str(payload.get('format_version'))[:20]}, this version "
                           f"reads format {FORMAT_VERSION}; refit the model and save it again")
    with reported_as_bad_file(path):
        _check_payload(payload)
        frame = _frame_from_json(payload["data"], payload["check"]["nobs"])
    return {**payload, "frame": frame}


@contextmanager
def reported_as_bad_file(path):
    """Whatever a crafted file provokes inside the block is reported as a bad file (a PersistError)."""
    try:
        yield
    except PersistError:
        raise
    except RecursionError:
        raise bad(f"{str(path)!r} is nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - the file is untrusted input: no bare exception escapes
        raise bad(f"{str(path)!r} does not describe a fit ({type(e).__name__}: {str(e)[:200]})") from None


# ------------------------------------------------------------------ checking the fields
_PAYLOAD_KEYS = {"format_version", "package_version", "formula", "REML", "data_name", "control", "theta",
                 "optinfo", "data", "weights", "weights_name", "offset", "check"}


def _is_int(v) -> bool:
    return type(v) is int


def _is_num(v) -> bool:
    return type(v) in (int, float)


def _text(v, what: str) -> str:
    _need(isinstance(v, str) and len(v) <= MAX_NAME, f"{what} must be text of at most {MAX_NAME} characters")
    return v


def _numbers(v, n, what: str, finite=True) -> np.ndarray:
    """A list of ``n`` numbers (any length when ``n`` is None) as float64."""
    _need(isinstance(v, list) and (n is None or len(v) == n),
          f"{what} must be a list of {'' if n is None else f'{n} '}numbers")
    _need(all(_is_num(x) for x in v), f"{what} must hold only numbers")
    arr = np.array(v, dtype=float)  # ints have at most 4300 digits: at worst they overflow to inf
    _need(not finite or np.isfinite(arr).all(), f"{what} must be finite numbers")
    return arr


def _check_payload(p: dict) -> None:
    """Types and sizes of every field that _rebuild uses, before anything is built from them."""
    _need(set(p) in (_PAYLOAD_KEYS, _PAYLOAD_KEYS | {"glmer"}), f"the payload has fields {sorted(map(str, p))[:20]}, "
                                                               f"expected {sorted(_PAYLOAD_KEYS)} (and glmer)")
    _text(p["formula"], "the formula")
    _text(p["data_name"], "the data name")
    _need(isinstance(p["REML"], bool), "REML must be true or false")
    _need(p["weights_name"] is None or isinstance(p["weights_name"], str) and len(p["weights_name"]) <= MAX_NAME,
          "weights_name must be null or a name")

    _need(p["control"] is None or isinstance(p["control"], dict), "control must be null or an object")
    check_control(p["control"])  # its own message for a bad setting (an ArgumentError, reported as a bad file)
    oi = p["optinfo"]
    _need(isinstance(oi, dict) and isinstance(oi.get("optimizer"), str) and isinstance(oi.get("message"), str)
          and _is_int(oi.get("nevals")) and _is_int(oi.get("code")) and isinstance(oi.get("converged"), bool)
          and 0 <= oi["nevals"] < 2**62 and abs(oi["code"]) < 2**62, "the optimizer's report is malformed")
    chk = p["check"]
    _need(isinstance(chk, dict) and set(chk) == {"nobs", "fixef_names", "objective", "groups"},
          "the model check is malformed")
    _need(_is_int(chk["nobs"]) and 1 <= chk["nobs"] < 2**40, "check.nobs must be a positive whole number")
    _need(isinstance(chk["fixef_names"], list) and all(isinstance(v, str) for v in chk["fixef_names"]),
          "check.fixef_names must be a list of names")
    _need(_is_num(chk["objective"]), "check.objective must be a number")
    _need(isinstance(chk["groups"], dict) and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                  for v in chk["groups"].values()),
          "check.groups must map each grouping factor to its level names")
    _need(isinstance(p["data"], dict) and set(p["data"]) == {"index", "columns"}, "the data are malformed")
    _need(isinstance(p["theta"], list) and 0 < len(p["theta"]) <= 100_000, "theta must be 1 to 100000 numbers")
    _numbers(p["theta"], None, "theta")
    n = chk["nobs"]
    for what in ("weights", "offset"):
        if p[what] is not None:
            _numbers(p[what], n, f"{what} (one per row, {n} rows)")
    if p["weights"] is not None:
        _need(min(p["weights"]) >= 0, "weights must not be negative")
    if "glmer" in p:
        _check_glmer(p["glmer"], n, len(p["theta"]), len(chk["fixef_names"]))
        _need(p["REML"] is False, "a glmer fit has no REML criterion")


_FAMILY_CLASSES = ("Binomial", "Poisson", "NegativeBinomial", "Gamma", "InverseGaussian", "Gaussian")
_GLMER_KEYS = {"family", "nAGQ", "beta", "lp0", "hessian", "gradient", "hessian_scale", "nb_theta"}


def _check_glmer(g, n: int, nth: int, p: int) -> None:
    """A GLMM's own fields (:func:`mixedmodels.io.save.save_result`): the family named from a fixed
    list (its link and theta are checked by the family itself), nAGQ, and every vector's length."""
    _need(isinstance(g, dict) and set(g) == _GLMER_KEYS, "the glmer fields are malformed")
    fam = g["family"]
    _need(isinstance(fam, dict) and set(fam) == {"class", "link", "theta"} and fam["class"] in _FAMILY_CLASSES,
          f"the family must be one of {', '.join(_FAMILY_CLASSES)}")
    _text(fam["link"], "the link")
    _need(fam["theta"] is None or _is_num(fam["theta"]) and math.isfinite(fam["theta"]) and fam["theta"] > 0,
          "the negative binomial theta must be a positive number")
    _need((fam["class"] == "NegativeBinomial") == (fam["theta"] is not None),
          "a theta belongs to the negative binomial family only")
    _need(_is_int(g["nAGQ"]) and 1 <= g["nAGQ"] <= 100, "nAGQ must be a whole number from 1 to 100")
    _numbers(g["beta"], p, f"beta ({p} fixed effects)")
    _numbers(g["lp0"], n, f"the starting linear predictor (one per row, {n} rows)")
    k = nth + p
    for what in ("gradient", "hessian_scale"):
        if g[what] is not None:
            _numbers(g[what], k, f"{what} ({k} numbers)", finite=False)
    if g["hessian"] is not None:
        _need(isinstance(g["hessian"], list) and len(g["hessian"]) == k, f"the Hessian must be {k} x {k}")
        for row in g["hessian"]:
            _numbers(row, k, f"a row of the Hessian ({k} numbers)", finite=False)
    _need(g["nb_theta"] is None or _is_num(g["nb_theta"]), "nb_theta must be null or a number")


def _frame_from_json(d: dict, n: int) -> pd.DataFrame:
    index = _index_from_json(d["index"], n)
    cols = d["columns"]
    _need(isinstance(cols, list) and 1 <= len(cols) <= MAX_COLUMNS,
          f"the data must have between 1 and {MAX_COLUMNS} columns")
    out = {}
    for c in cols:
        _need(isinstance(c, dict) and isinstance(c.get("name"), str), "a column has no name")
        name = _text(c["name"], "a column name")
        _need(name not in out, f"column {name!r} appears twice")
        values = _values_from_json({k: v for k, v in c.items() if k != "name"}, n, f"column {name!r}")
        out[name] = pd.Series(values, index=index, dtype=values.dtype, copy=False)
    return pd.DataFrame(out, index=index)


def _index_from_json(d, n: int) -> pd.Index:
    _need(isinstance(d, dict) and d.get("kind") in ("range", "flat", "multi"), "the row labels are malformed")
    names = d.get("names")
    _need(isinstance(names, list) and all(v is None or _is_int(v) or isinstance(v, str) for v in names),
          "the names of the row labels must be text, whole numbers or null")
    if d["kind"] == "range":
        _need(set(d) == {"kind", "start", "stop", "step", "names"} and len(names) == 1, "the row range is malformed")
        start, stop, step = d["start"], d["stop"], d["step"]
        _need(all(_is_int(v) and abs(v) < 2**62 for v in (start, stop, step)) and step != 0,
              "the row range must be whole numbers (step not 0)")
        _need(len(range(start, stop, step)) == n, f"the data have a row range that is not {n} rows long")
        return pd.RangeIndex(start, stop, step, name=names[0])
    levels = d.get("levels")
    _need(set(d) == {"kind", "names", "levels"} and isinstance(levels, list) and len(levels) == len(names)
          and (len(levels) == 1 if d["kind"] == "flat" else 1 <= len(levels) <= 64),
          "the row labels are malformed")
    arrays = [_values_from_json(e, n, "the row labels") for e in levels]
    if d["kind"] == "flat":
        return pd.Index(arrays[0], dtype=arrays[0].dtype, name=names[0], copy=False)  # object stays object
    return pd.MultiIndex.from_arrays(arrays, names=names)


def _values_from_json(e, n: int, what: str):
    """One column (or level of row labels) from its JSON, every value checked before the array is built."""
    _need(isinstance(e, dict), f"{what} is malformed")
    dtype, kind, values = e.get("dtype"), e.get("kind"), e.get("values")
    _need(isinstance(dtype, str) and len(dtype) <= 80, f"{what} has no type")
    _need(isinstance(values, list) and len(values) == n, f"{what} must have one value for each of the {n} rows")
    expect = {"kind", "dtype", "values"}
    if dtype == "category":
        expect |= {"categories", "ordered"}
        cats = e.get("categories")
        _need(isinstance(cats, list) and isinstance(e.get("ordered"), bool), f"{what}: levels malformed")
        _need(len({type(v) for v in cats}) <= 1 and all(type(v) in (str, int, float, bool) for v in cats),
              f"{what}: levels must be all text or all numbers")
        _need(all(_is_int(v) and -1 <= v < len(cats) for v in values),
              f"{what}: codes must be whole numbers from -1 to {len(cats) - 1}")
        categories = pd.Index(cats)
        _need(categories.is_unique and not categories.hasnans, f"{what}: levels must be distinct and not missing")
        out = pd.Categorical.from_codes(np.array(values, dtype=np.int64), categories=categories,
                                        ordered=e["ordered"])
        want = "category"
    elif dtype in NUMPY_TYPES or dtype in NULLABLE_TYPES:
        base = dtype.lower()
        if base == "bool" or base == "boolean":
            ok = all(type(v) is bool or (v is None and base == "boolean") for v in values)
        elif base.startswith(("int", "uint")):
            info = np.iinfo(base)
            ok = all((_is_int(v) and info.min <= v <= info.max) or (v is None and dtype in NULLABLE_TYPES)
                     for v in values)
        else:
            ok = all(type(v) is float or (v is None and dtype in NULLABLE_TYPES) for v in values)
        _need(ok, f"{what} of type {dtype} holds values of another type")
        out = np.array(values, dtype=dtype) if dtype in NUMPY_TYPES else pd.array(values, dtype=dtype)
        want = dtype
    elif dtype in TEXT_TYPES or dtype == "object":
        ok = all(type(v) is str or v is None or (type(v) is float and (dtype == "object" or math.isnan(v)))
                 or (dtype == "object" and type(v) in (int, bool)) for v in values)
        _need(ok, f"{what} of type {dtype} holds values of another type")
        if dtype == "object":
            out = np.empty(n, dtype=object)
            out[:] = values
        else:
            out = pd.array(values, dtype=dtype)
        want = dtype
    elif TIME_TYPE.fullmatch(dtype):
        base, unit, tz = TIME_TYPE.fullmatch(dtype).groups()
        _need(tz is None or (base == "datetime64" and ".." not in tz), f"{what} has an unknown time zone")
        _need(all(_is_int(v) and -2**63 <= v < 2**63 for v in values), f"{what}: times must be 64-bit integers")
        ints = np.array(values, dtype=np.int64)
        if base == "timedelta64":
            out = pd.TimedeltaIndex(ints.view(f"m8[{unit}]")).array
        else:
            ix = pd.DatetimeIndex(ints.view(f"M8[{unit}]"))
            out = (ix if tz is None else ix.tz_localize("UTC").tz_convert(tz)).array
        want = dtype
    else:
        raise bad(f"{what} has type {dtype!r}, which is not one a saved result may have")
    _need(kind == {"category": "category", "object": "object"}.get(dtype, "datetime" if TIME_TYPE.fullmatch(dtype)
                                                                   else "plain") and set(e) == expect,
          f"{what} is malformed")
    _need(str(out.dtype) == want, f"{what} of type {dtype!r} gives {out.dtype}")
    return out
