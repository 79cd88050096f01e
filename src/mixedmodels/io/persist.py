"""Save a fitted lmer model to a file and load it back, number for number.

The file is JSON: data, never code (no pickle). It holds the formula, REML, the data name, the
rows the model used (only the columns the formula names, with their types and factor levels, and
the row labels with their types and names), the weights, their name and the offset, theta, the
optimizer's report, the control settings and the package version. Loading rebuilds the design from
those rows and the core from the design, and takes theta as stored: no optimization, so every
number equals the saved fit's.

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

import gzip
import hashlib
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FormulaError, PersistError, silenced
from .limits import check_design_size, read_document

__all__ = ["save_result", "load_result", "FORMAT", "FORMAT_VERSION"]

FORMAT = "mixedmodels.lmer-result"
FORMAT_VERSION = 2  # 2: row labels keep their type and names (1 turned them into text)

_MAX_NAME = 10_000             # characters in a formula, a name or a message
_MAX_COLUMNS = 1_000

# column (and row label) types a file may name, and nothing else
_NUMPY = {"float64", "float32", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}
_NULLABLE = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
             "boolean"}
_TEXT = {"string", "str"}
_TIME = re.compile(r"(datetime64|timedelta64)\[(s|ms|us|ns)(?:, ([A-Za-z][A-Za-z0-9_+\-/:]{0,63}))?\]")


def _version() -> str:
    from ..version import __version__

    return __version__


def _bad(msg: str):
    """The error for a file whose content is not what save_result writes."""
    return PersistError(f"{msg}; the file is damaged or was edited: refit the model and save it again")


def _need(ok, msg: str) -> None:
    if not ok:
        raise _bad(msg)


# ------------------------------------------------------------------ saving
def save_result(m, path) -> Path:
    """Write a fitted model to a JSON file, gzip-compressed when the name ends in ``.gz``.

    Parameters
    ----------
    m : LmerResult
        The fit, from :func:`mixedmodels.lmer`.
    path : str or Path
        Where to write.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    PersistError
        If ``m`` is not an lmer fit, its formula calls functions a saved model may not use, or
        its data hold values that are not plain numbers, text, dates or categories.
    """
    from ..results.lmer import LmerResult

    if not isinstance(m, LmerResult):
        raise PersistError(f"only lmer() results can be saved, not {type(m).__name__}")
    fr = m.frame
    _check_formula(m.formula, list(fr.variables))
    payload = {
        "format_version": FORMAT_VERSION,
        "package_version": _version(),
        "formula": m.formula,
        "REML": bool(m.reml),
        "data_name": str(m.data_name),
        "control": _jsonable(m.control, "control"),
        "theta": [float(v) for v in np.asarray(m.theta, dtype=float)],
        "optinfo": m.optinfo.as_dict(),
        "data": _frame_to_json(fr.data, list(fr.variables)),
        "weights": None if fr.weights is None else [float(v) for v in fr.weights],
        # what the summary's "Weights:" line names (a column, a Series' name); kept by fit.py beside the fields
        "weights_name": getattr(m, "weights_name", None) or m.__dict__.get("_weights_name"),
        "offset": None if fr.offset is None else [float(v) for v in fr.offset],
        # what the rebuilt model must reproduce
        "check": {"nobs": int(m.nobs), "fixef_names": list(m.fixed.names), "objective": float(m.objective),
                  "groups": {t.group: list(t.levels) for t in m.terms}},
    }
    doc = {"format": FORMAT, "sha256": _digest(payload), "payload": payload}
    text = json.dumps(doc, separators=(",", ":"), allow_nan=True)
    path = Path(path)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _digest(payload: dict) -> str:
    # canonical text: parsing and re-dumping JSON gives the same text (floats round-trip exactly)
    canon = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


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
        if not _TIME.fullmatch(name):
            raise PersistError(f"cannot save {what} of type {name}; convert it to numbers and refit")
        ix = pd.TimedeltaIndex(s) if name.startswith("timedelta") else pd.DatetimeIndex(s)
        return {"dtype": name, "kind": "datetime", "values": [int(v) for v in ix.asi8]}  # UTC instants
    if name not in _NUMPY | _NULLABLE | _TEXT | {"object"}:
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


# ------------------------------------------------------------------ reading the file
def load_result(path, *, max_bytes: int | None = None):
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
    path = Path(path)
    doc = read_document(path, max_bytes)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("payload"), dict):
        raise PersistError(f"{str(path)!r} is not a saved mixedmodels result (format {FORMAT!r} expected)")
    payload = doc["payload"]
    if doc.get("sha256") != _digest(payload):
        raise PersistError(f"{str(path)!r} does not match its checksum (SHA-256): it was changed after it was "
                           "saved, or is damaged; refit the model and save it again")
    saved, ours = payload.get("package_version"), _version()
    if saved != ours:
        raise PersistError(f"{str(path)!r} was saved by mixedmodels {str(saved)[:40]}, this is {ours}: its numbers "
                           f"might differ here, so it is not loaded; load it with mixedmodels {str(saved)[:40]}, "
                           "or refit")
    if payload.get("format_version") != FORMAT_VERSION:
        raise PersistError(f"{str(path)!r} has file format {str(payload.get('format_version'))[:20]}, this version "
                           f"reads format {FORMAT_VERSION}; refit the model and save it again")
    try:
        return _rebuild(payload)
    except PersistError:
        raise
    except RecursionError:
        raise _bad(f"{str(path)!r} is nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - whatever a crafted file provokes is reported as a bad file
        raise _bad(f"{str(path)!r} does not describe a fit ({type(e).__name__}: {str(e)[:200]})") from None


# ------------------------------------------------------------------ checking and rebuilding
_PAYLOAD_KEYS = {"format_version", "package_version", "formula", "REML", "data_name", "control", "theta",
                 "optinfo", "data", "weights", "weights_name", "offset", "check"}


def _is_int(v) -> bool:
    return type(v) is int


def _is_num(v) -> bool:
    return type(v) in (int, float)


def _text(v, what: str) -> str:
    _need(isinstance(v, str) and len(v) <= _MAX_NAME, f"{what} must be text of at most {_MAX_NAME} characters")
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
    _need(set(p) == _PAYLOAD_KEYS, f"the payload has fields {sorted(map(str, p))[:20]}, "
                                   f"expected {sorted(_PAYLOAD_KEYS)}")
    _text(p["formula"], "the formula")
    _text(p["data_name"], "the data name")
    _need(isinstance(p["REML"], bool), "REML must be true or false")
    _need(p["weights_name"] is None or isinstance(p["weights_name"], str) and len(p["weights_name"]) <= _MAX_NAME,
          "weights_name must be null or a name")
    from ..fit.lmer import check_control

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


def _rebuild(p: dict):
    from ..core.lmm import LmmCore
    from ..design.fixed import fixed_design
    from ..design.frame import model_frame
    from ..design.random import check_terms, random_terms
    from ..formula.parse import parse_formula
    from ..optim.nlopt import OptInfo
    from ..results.lmer import LmerResult

    _check_payload(p)
    chk = p["check"]
    data = _frame_from_json(p["data"], chk["nobs"])
    _check_formula(p["formula"], list(data.columns))
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
        raise _bad("theta has a negative standard deviation factor (a diagonal entry below 0)")
    # A fitted core settles on its way of forming the Schur block at its second evaluation, during the
    # optimization; two evaluations put the rebuilt core on the same path, so that its numbers are the
    # same to the last bit (a fresh core's first factorizations may differ there by rounding).
    with silenced(), np.errstate(all="ignore"):  # a crafted theta may overflow; the check below refuses it
        for _ in range(2):
            core.objective(theta, p["REML"])
    oi = p["optinfo"]
    info = OptInfo(oi["optimizer"], oi["nevals"], oi["code"], oi["message"], oi["converged"])
    m = LmerResult(formula=parsed.text, reml=p["REML"], data_name=p["data_name"], parsed=parsed,
                   frame=frame, fixed=fixed, terms=terms, core=core, theta=theta, optinfo=info,
                   control=p["control"])
    if p["weights_name"] is not None and frame.weights is not None:
        m.__dict__["_weights_name"] = p["weights_name"]
    with silenced(), np.errstate(all="ignore"):
        same = math.isclose(m.objective, chk["objective"], rel_tol=1e-9, abs_tol=1e-9)
    if not same:
        raise mismatch
    return m


def _frame_from_json(d: dict, n: int) -> pd.DataFrame:
    index = _index_from_json(d["index"], n)
    cols = d["columns"]
    _need(isinstance(cols, list) and 1 <= len(cols) <= _MAX_COLUMNS,
          f"the data must have between 1 and {_MAX_COLUMNS} columns")
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
    elif dtype in _NUMPY or dtype in _NULLABLE:
        base = dtype.lower()
        if base == "bool" or base == "boolean":
            ok = all(type(v) is bool or (v is None and base == "boolean") for v in values)
        elif base.startswith(("int", "uint")):
            info = np.iinfo(base)
            ok = all((_is_int(v) and info.min <= v <= info.max) or (v is None and dtype in _NULLABLE)
                     for v in values)
        else:
            ok = all(type(v) is float or (v is None and dtype in _NULLABLE) for v in values)
        _need(ok, f"{what} of type {dtype} holds values of another type")
        out = np.array(values, dtype=dtype) if dtype in _NUMPY else pd.array(values, dtype=dtype)
        want = dtype
    elif dtype in _TEXT or dtype == "object":
        ok = all(type(v) is str or v is None or (type(v) is float and (dtype == "object" or math.isnan(v)))
                 or (dtype == "object" and type(v) in (int, bool)) for v in values)
        _need(ok, f"{what} of type {dtype} holds values of another type")
        if dtype == "object":
            out = np.empty(n, dtype=object)
            out[:] = values
        else:
            out = pd.array(values, dtype=dtype)
        want = dtype
    elif _TIME.fullmatch(dtype):
        base, unit, tz = _TIME.fullmatch(dtype).groups()
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
        raise _bad(f"{what} has type {dtype!r}, which is not one a saved result may have")
    _need(kind == {"category": "category", "object": "object"}.get(dtype, "datetime" if _TIME.fullmatch(dtype)
                                                                   else "plain") and set(e) == expect,
          f"{what} is malformed")
    _need(str(out.dtype) == want, f"{what} of type {dtype!r} gives {out.dtype}")
    return out


def _check_formula(formula: str, columns: list[str]) -> None:
    """The closed formula evaluator's gate (the one that fitting and prediction use): the saved
    formula may name only the saved columns, numbers, operators and the allowed functions."""
    from ..formula.evaluate import to_formulaic
    from ..formula.parse import parse_formula

    try:
        parsed = parse_formula(str(formula))
        for expr in (parsed.response, parsed.fixed, *parsed.offsets, *(t.expr for t in parsed.random)):
            to_formulaic(expr, columns)
        missing = [f for t in parsed.random for f in t.factors if f not in columns]
    except FormulaError as e:
        raise PersistError(f"the saved formula {str(formula)[:200]!r} is not one a model may use ({e}); refit the "
                           "model and save it again") from None
    if missing:
        raise PersistError(f"the saved formula groups by {missing[0]!r}, which is not a column of the saved data; "
                           "refit the model and save it again")
