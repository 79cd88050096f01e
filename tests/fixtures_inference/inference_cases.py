"""Load the R-made expected values in this folder (see make_fixtures.R) and fit their models."""
from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
NAMES = ["cake_numeric_temp", "ham_unbalanced", "ham_unbalanced_covariate", "sleepstudy_unbalanced",
         "sleepstudy_unbalanced_weights", "insteval_subset"]
ANOVA_NAMES = ["ham_interaction_only", "ham_slopes_by_product", "ham_three_way", "ham_no_intercept"]
_CSV = {"ham_unbal": "ham_unbalanced.csv", "sleep_unbal": "sleepstudy_unbalanced.csv"}


def as_list(x):
    """R's JSON writes a length-one vector as a scalar."""
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def values(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in as_list(x)], dtype=float)


@lru_cache(maxsize=None)
def expected(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text())


def data(ref: dict) -> pd.DataFrame:
    import mixedmodels as mm

    if ref["dataset"] == "cake":
        return mm.load_dataset("cake")
    if ref["dataset"] == "inst_sub":   # rows of InstEval (1-based, as R numbers them)
        return mm.load_dataset("InstEval").iloc[np.asarray(ref["rows"]) - 1].reset_index(drop=True)
    d = pd.read_csv(HERE / _CSV[ref["dataset"]])
    for var, levels in ref["levels"].items():
        d[var] = pd.Categorical(d[var].astype(str), categories=as_list(levels))
    return d


@lru_cache(maxsize=None)
def fit(name: str):
    import mixedmodels as mm

    ref = expected(name)
    d = data(ref)
    kw = {"weights": d[ref["weights"]].to_numpy(dtype=float)} if ref.get("weights") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(ref["formula"], d, **kw)


@lru_cache(maxsize=None)
def fit_at_r_theta(name: str):
    """The fit with theta set to R's optimum: the inference is then compared without optimizer noise."""
    from dataclasses import replace

    m = fit(name)
    return replace(m, theta=values(expected(name)["theta"]))
