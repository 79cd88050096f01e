"""allfit(): refit one model with every optimizer and compare them, as lme4's ``allFit``.

When the optimizers agree on the objective and the estimates, a convergence warning from one of
them is a false alarm; when they disagree, the model is poorly determined by the data.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..errors import ArgumentError, MixedModelError, collected

__all__ = ["allfit", "OPTIMIZERS"]

# every derivative-free NLopt algorithm that optimize.py offers, lme4's default first
OPTIMIZERS = ("bobyqa", "nelder_mead", "sbplx", "cobyla", "praxis")


def allfit(m, optimizers=None, control=None, progress=None) -> pd.DataFrame:
    """One row per optimizer: ``optimizer, objective, <fixef...>, <theta...>, sigma, converged, nevals,
    seconds, messages``. Theta columns carry lme4's names ("Subject.Days.(Intercept)"). A refit that
    fails gets NaN numbers, ``converged=False`` and its error in ``messages``."""
    names = list(OPTIMIZERS if optimizers is None else ([optimizers] if isinstance(optimizers, str) else optimizers))
    if not names:
        raise ArgumentError("allfit() needs at least one optimizer, e.g. optimizers=['bobyqa', 'nelder_mead']")
    unknown = [o for o in names if o not in OPTIMIZERS]
    if unknown:
        raise ArgumentError(f"unknown optimizer(s) {unknown}; choose from {list(OPTIMIZERS)}")
    from ..progress import progress_bar

    fnames, tnames = list(m.fixed.names), list(m.theta_names)
    rows = []
    bar = progress_bar(len(names), progress, "allfit")
    for name in names:
        ctl = {**(m.control or {}), **(control or {}), "optimizer": name}
        t0 = time.perf_counter()
        with collected() as caught:
            try:
                fit, error = m.refit(control=ctl), None
            except MixedModelError as e:  # one optimizer failing is a result here, not an error
                fit, error = None, f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - t0
        messages = [str(w) for w in caught] + ([error] if error else [])
        row = {"optimizer": name}
        if fit is None:
            row.update({"objective": np.nan, **dict.fromkeys(fnames, np.nan), **dict.fromkeys(tnames, np.nan),
                        "sigma": np.nan, "converged": False, "nevals": 0})
        else:
            row.update({"objective": fit.objective, **dict(zip(fnames, fit.beta)), **dict(zip(tnames, fit.theta)),
                        "sigma": fit.sigma, "converged": fit.converged, "nevals": fit.optinfo.nevals})
        row.update({"seconds": seconds, "messages": "; ".join(messages)})
        rows.append(row)
        bar.update(1)
    bar.close()
    return pd.DataFrame(rows)
