"""The file format of a saved lmer fit: its name and version, the column types it may hold, its checksum.

:mod:`mixedmodels.io.save` writes it, :mod:`mixedmodels.io.read` reads it back and
:mod:`mixedmodels.fit.load` rebuilds the fit; the saved formula passes the same gate both ways
(:func:`check_formula`), the closed evaluator that fitting uses.
"""
from __future__ import annotations

import hashlib
import json
import re

from ..errors import FormulaError, PersistError

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_NAME", "MAX_COLUMNS", "NUMPY_TYPES", "NULLABLE_TYPES", "TEXT_TYPES",
           "TIME_TYPE", "package_version", "digest", "check_formula"]

FORMAT = "mixedmodels.lmer-result"
FORMAT_VERSION = 2  # 2: row labels keep their type and names (1 turned them into text)

MAX_NAME = 10_000             # characters in a formula, a name or a message
MAX_COLUMNS = 1_000

# column (and row label) types a file may name, and nothing else
NUMPY_TYPES = {"float64", "float32", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}
NULLABLE_TYPES = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
                  "boolean"}
TEXT_TYPES = {"string", "str"}
TIME_TYPE = re.compile(r"(datetime64|timedelta64)\[(s|ms|us|ns)(?:, ([A-Za-z][A-Za-z0-9_+\-/:]{0,63}))?\]")


def package_version() -> str:
    """The version that writes (and the only one that reads) a file."""
    from ..version import __version__

    return __version__


def digest(payload: dict) -> str:
    """SHA-256 of the payload's canonical JSON text."""
    # canonical text: parsing and re-dumping JSON gives the same text (floats round-trip exactly)
    canon = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def check_formula(formula: str, columns: list[str]) -> None:
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
