"""Example data sets shipped with the package, with R's factor levels.

Each data set is a CSV file plus a JSON file naming each column's type and, for factors,
R's levels in R's order (the first level is the reference level of treatment contrasts).
"""
from __future__ import annotations

import json
from importlib import resources

from ..errors import ArgumentError

__all__ = ["load_dataset", "list_datasets"]


def list_datasets() -> list[str]:
    """Names of the data sets that ship with the package (lme4's, with R's levels).

    Returns
    -------
    list of str
        The names, sorted (upper case first), each one :func:`load_dataset` takes.

    Examples
    --------
    >>> mm.list_datasets()
    ['Dyestuff', 'Dyestuff2', 'InstEval', 'Pastes', 'Penicillin', 'cake', 'cbpp', 'grouseticks', 'sleepstudy']
    """
    files = resources.files(__package__)
    return sorted(p.name[:-4] for p in files.iterdir() if p.name.endswith(".csv"))


def load_dataset(name: str):
    """Return the data set ``name`` as a pandas DataFrame with R's factor levels.

    The data sets are lme4's (``sleepstudy``, ``cbpp``, ``Dyestuff``, ``Penicillin``, ...).
    Factors are pandas categoricals with R's levels in R's order (the first is the reference
    level of treatment contrasts), ordered factors ordered, logicals nullable booleans, integers
    int64. ``df.attrs["name"]`` holds the name, which summaries print on their ``Data:`` line.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        A new frame at each call.

    Raises
    ------
    ArgumentError
        For an unknown name (the message lists the available ones).

    Examples
    --------
    >>> df = mm.load_dataset("sleepstudy")
    >>> df.shape, df.attrs["name"]
    ((180, 3), 'sleepstudy')
    >>> df.head(3)
       Reaction  Days Subject
    0  249.5600     0     308
    1  258.7047     1     308
    2  250.8006     2     308
    >>> mm.load_dataset("cbpp")["period"].cat.categories.tolist()
    ['1', '2', '3', '4']
    """
    import pandas as pd

    available = list_datasets()
    match = {n.lower(): n for n in available}.get(str(name).lower())
    if match is None:
        raise ArgumentError(f"unknown data set {name!r}; available: {', '.join(available)}")
    files = resources.files(__package__)
    meta = json.loads((files / f"{match}.json").read_text())
    with (files / f"{match}.csv").open("rb") as fh:
        df = pd.read_csv(fh, keep_default_na=True)
    for col, info in meta["columns"].items():
        kind = info["type"]
        if kind == "factor":
            labels = df[col].map(_level_label)
            df[col] = pd.Categorical(labels, categories=info["levels"], ordered=bool(info.get("ordered")))
        elif kind == "logical":
            df[col] = df[col].astype("boolean")
        elif kind == "integer" and not df[col].isna().any():
            df[col] = df[col].astype("int64")
    df.attrs["name"] = match
    return df


def _level_label(v):
    """R writes factor labels as text; pandas may read '308' back as a number."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
