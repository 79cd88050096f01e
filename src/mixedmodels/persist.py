"""Save a fitted lmer model to a file and load it back, number for number.

The file is JSON: data, never code (no pickle). It holds the formula, REML, the data name, the
rows the model used (only the columns the formula names, with their types and factor levels), the
weights and the offset, theta, the optimizer's report, the control settings and the package
version. Loading rebuilds the design from those rows and the core from the design, and takes theta
as stored: no optimization, so every number equals the saved fit's.

A SHA-256 of the payload guards against a damaged or edited file, and a file written by another
version of the package is refused, because its numbers could differ. The formula is checked
before anything evaluates it: only column names, numbers, operators and a short list of
functions (log, exp, sqrt, I, poly, scale, ...) are allowed.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PersistError

__all__ = ["save_result", "load_result", "FORMAT"]

FORMAT = "mixedmodels.lmer-result"
FORMAT_VERSION = 1

# functions a saved formula may call when it is rebuilt; nothing else is evaluated
_SAFE_FUNCTIONS = {"log", "exp", "sqrt", "log10", "log2", "log1p", "abs", "sin", "cos", "tan", "I", "C",
                   "poly", "scale", "center", "standardize", "offset"}
_SAFE_KEYWORDS = {"degree", "raw", "center", "scale", "ddof", "levels", "reference", "contr", "spans_intercept"}
_SAFE_CONSTANTS = {"True", "False", "TRUE", "FALSE", "T", "F", "pi"}


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------ saving
def save_result(m, path) -> Path:
    """Write ``m`` (an LmerResult) to ``path`` as JSON (gzip-compressed when the name ends in .gz)."""
    from .results import LmerResult

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


def _frame_to_json(data: pd.DataFrame, columns: list[str]) -> dict:
    cols = []
    for name in columns:
        col = data[name]
        dtype = col.dtype
        entry = {"name": str(name), "dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            entry.update(kind="category", ordered=bool(dtype.ordered),
                         categories=_jsonable(list(dtype.categories), f"the levels of {name!r}"),
                         values=[int(c) for c in col.cat.codes])
        elif pd.api.types.is_datetime64_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            entry.update(kind="datetime", values=[int(v) for v in col.to_numpy().view(np.int64)])
        elif dtype == object:
            entry.update(kind="object", values=_jsonable(col.tolist(), f"column {name!r}"))
        elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype) \
                or pd.api.types.is_string_dtype(dtype):
            entry.update(kind="plain", values=_jsonable(col.tolist(), f"column {name!r}"))
        else:
            raise PersistError(f"cannot save column {name!r} of type {dtype}; convert it to numbers, text or a "
                               "categorical column and refit")
        cols.append(entry)
    idx = data.index
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in idx):
        index = {"kind": "int", "values": [int(v) for v in idx]}
    else:
        index = {"kind": "str", "values": [str(v) for v in idx]}
    return {"index": index, "columns": cols}


# ------------------------------------------------------------------ loading
def load_result(path):
    """Read a file written by ``m.save(path)``: the same fit, every number identical, nothing refitted.

    Refuses (PersistError) a file that is not a mixedmodels result, was written by another version,
    or whose content no longer matches its SHA-256.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PersistError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        doc = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, ValueError):
        raise PersistError(f"{str(path)!r} is not a saved mixedmodels result (not JSON); save one with "
                           "m.save(path)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("payload"), dict):
        raise PersistError(f"{str(path)!r} is not a saved mixedmodels result (format {FORMAT!r} expected)")
    payload = doc["payload"]
    if doc.get("sha256") != _digest(payload):
        raise PersistError(f"{str(path)!r} does not match its checksum (SHA-256): it was changed after it was "
                           "saved, or is damaged; refit the model and save it again")
    saved, ours = payload.get("package_version"), _version()
    if saved != ours or payload.get("format_version") != FORMAT_VERSION:
        raise PersistError(f"{str(path)!r} was saved by mixedmodels {saved}, this is {ours}: its numbers might "
                           f"differ here, so it is not loaded; load it with mixedmodels {saved}, or refit")
    try:
        return _rebuild(payload)
    except PersistError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise PersistError(f"{str(path)!r} is incomplete or malformed ({type(e).__name__}: {e})") from None


def _rebuild(p: dict):
    from .core import LmmCore
    from .design import check_terms, fixed_design, model_frame, random_terms
    from .formula import parse_formula
    from .optimize import OptInfo
    from .results import LmerResult

    data = _frame_from_json(p["data"])
    _check_formula(p["formula"], list(data.columns))
    weights = None if p["weights"] is None else np.asarray(p["weights"], dtype=float)
    offset = None if p["offset"] is None else np.asarray(p["offset"], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the original fit said it all already
        parsed = parse_formula(p["formula"])
        frame = model_frame(parsed, data, weights=weights)
        # the stored offset is the total (argument + offset() terms): use it as is
        frame = replace(frame, offset=offset)
        fixed = fixed_design(parsed, frame)
        terms = random_terms(parsed, frame)
        check_terms(terms, len(frame.y))
        core = LmmCore(terms, fixed.X, frame.y, weights=frame.weights, offset=frame.offset)
    theta = np.asarray(p["theta"], dtype=float)
    # A fitted core settles on its way of forming the Schur block at its second evaluation, during the
    # optimization; two evaluations put the rebuilt core on the same path, so that its numbers are the
    # same to the last bit (a fresh core's first factorizations may differ there by rounding).
    for _ in range(2):
        core.objective(theta, bool(p["REML"]))
    oi = p["optinfo"]
    info = OptInfo(str(oi["optimizer"]), int(oi["nevals"]), int(oi["code"]), str(oi["message"]),
                   bool(oi["converged"]))
    m = LmerResult(formula=parsed.text, reml=bool(p["REML"]), data_name=str(p["data_name"]), parsed=parsed,
                   frame=frame, fixed=fixed, terms=terms, core=core, theta=theta, optinfo=info,
                   control=p["control"])
    chk = p["check"]
    same = (m.nobs == chk["nobs"] and list(m.fixed.names) == chk["fixef_names"]
            and {t.group: list(t.levels) for t in m.terms} == chk["groups"] and theta.size == core.layout.size)
    if not same or not math.isclose(m.objective, chk["objective"], rel_tol=1e-9, abs_tol=1e-9):
        raise PersistError("the saved data do not rebuild the saved model (different columns, levels or "
                           "criterion); refit the model from its data")
    return m


def _frame_from_json(d: dict) -> pd.DataFrame:
    idx = d["index"]
    index = pd.Index(idx["values"], dtype=np.int64 if idx["kind"] == "int" else object)
    out = {}
    for c in d["columns"]:
        kind, dtype, values = c["kind"], c["dtype"], c["values"]
        if kind == "category":
            col = pd.Categorical.from_codes(values, categories=pd.Index(c["categories"]), ordered=c["ordered"])
            out[c["name"]] = pd.Series(col, index=index)
        elif kind == "datetime":
            out[c["name"]] = pd.Series(np.asarray(values, dtype=np.int64).view(np.dtype(dtype)), index=index)
        elif kind == "object":
            out[c["name"]] = pd.Series(values, index=index, dtype=object)
        elif kind == "plain":
            out[c["name"]] = pd.Series(values, index=index).astype(dtype)
        else:
            raise PersistError(f"unknown column kind {kind!r} in the saved data")
    return pd.DataFrame(out, index=index)


def _check_formula(formula: str, columns: list[str]) -> None:
    """Allow only column names, numbers, formula operators and the functions in _SAFE_FUNCTIONS."""
    text = str(formula)
    for name in sorted(columns, key=len, reverse=True):
        text = text.replace(f"`{name}`", " ")
    if "`" in text or "__" in text or not re.fullmatch(r"[A-Za-z0-9_.\s~+\-*/:|^(),=]*", text):
        raise PersistError(f"the formula {formula!r} has characters that a saved model may not use (quotes, "
                           "brackets other than (), ...); refit it with a plain formula")
    text = re.sub(r"(?<![A-Za-z0-9_.])\d+\.?\d*(?:[eE][+-]?\d+)?", " ", text)  # numbers
    cols = set(columns)
    for m in re.finditer(r"[A-Za-z_.][A-Za-z0-9_.]*", text):
        name, after = m.group(0), text[m.end():].lstrip()
        if name in cols or name in _SAFE_CONSTANTS:
            continue
        if after.startswith("(") and name in _SAFE_FUNCTIONS:
            continue
        if after.startswith("=") and not after.startswith("==") and name in _SAFE_KEYWORDS:
            continue
        raise PersistError(f"the formula {formula!r} uses {name!r}, which is neither a column of the saved data "
                           f"nor one of the functions a saved model may call ({', '.join(sorted(_SAFE_FUNCTIONS))})")
