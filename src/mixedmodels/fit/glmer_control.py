"""glmer's control: the names it takes, their checks, and the optimizers of its two stages."""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ArgumentError
from ..optim.nlopt import DEFAULT_CONTROL, OPTIMIZERS, check_maxeval, check_setting_number, unknown_settings_error

__all__ = ["split_control", "optimizers", "DEFAULT_OPTIMIZERS", "STAGE2_TOLERANCES"]

_OPT_KEYS = set(DEFAULT_CONTROL) | {"optimizer", "ftol_abs", "xtol_abs", "maxeval", "boundary_tol"}
#: stage 2's NLopt settings where the user gives none: with lme4's lmer settings (ftol_abs 1e-8)
#: NLopt's BOBYQA stops up to ~3e-7 above Nelder-Mead's end on grouseticks; with these it ends at
#: or below it (measured on cbpp, grouseticks and a 5,000-row crossed Bernoulli model)
#: glmer's default optimizers of stage 1 and stage 2 (see :func:`optimizers`).
DEFAULT_OPTIMIZERS = ("bobyqa", "bobyqa")
STAGE2_TOLERANCES = {"ftol_abs": 1e-10, "xtol_rel": 1e-7, "xtol_abs": 1e-10}
_GLMM_KEYS = {"tol_pirls", "maxit_pirls", "calc_derivs", "nAGQ0initStep", "check_conv_grad", "laplace"}


def split_control(control):
    """glmer's control, checked, as (optimizer settings, glmer settings).

    Parameters
    ----------
    control : dict or None
        glmer's control (see :func:`glmer`).

    Returns
    -------
    (opt_ctl, glmm_ctl) : tuple of dict
        The optimizers' settings and glmer's own (PIRLS, derivatives, stage 1, gradient check).

    Raises
    ------
    ArgumentError
        For an unknown name or a bad value.
    """
    if control is None:
        return {}, {}
    if not isinstance(control, dict):
        raise ArgumentError(f"control must be a dict such as {{'maxeval': 20000}}, got {type(control).__name__}")
    unknown = set(control) - _OPT_KEYS - _GLMM_KEYS
    if unknown:
        raise unknown_settings_error(unknown, _OPT_KEYS | _GLMM_KEYS)
    for key, value in control.items():
        _check_glmer_setting(key, value)
    return ({k: v for k, v in control.items() if k in _OPT_KEYS},
            {k: v for k, v in control.items() if k in _GLMM_KEYS})


def _check_glmer_setting(key: str, value) -> None:
    """One glmer control setting, or an ArgumentError saying what it must be."""
    if key == "optimizer":
        optimizers({"optimizer": value})
    elif key == "maxeval":
        check_maxeval(value)
    elif key == "maxit_pirls":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ArgumentError(f"control['maxit_pirls'] must be a whole number >= 1 (PIRLS iterations; default "
                                f"100), got {value!r}")
    elif key == "laplace":
        if value not in ("lme4", "mode"):
            raise ArgumentError(f"control['laplace'] must be 'lme4' (the deviance with PIRLS's last-step factor, as "
                                f"lme4) or 'mode' (the system factored at the mode, as glmmTMB), got {value!r}")
    elif key in ("calc_derivs", "nAGQ0initStep"):
        if not isinstance(value, (bool, np.bool_)):
            raise ArgumentError(f"control[{key!r}] must be True or False, got {value!r}")
    elif key in ("tol_pirls", "check_conv_grad"):
        # PIRLS stops when the relative change is below tol_pirls: 0 would never stop
        check_setting_number(key, value, positive=True)
    else:
        check_setting_number(key, value)


def optimizers(opt_ctl) -> tuple[str, str]:
    """Optimizers of stage 1 and stage 2; one name applies to both stages.

    The default :data:`DEFAULT_OPTIMIZERS` is ``("bobyqa", "bobyqa")``: Powell's BOBYQA as R's
    minqa runs it for stage 1 (so stage 2 starts where lme4's does), then NLopt's BOBYQA at tight
    tolerances (:data:`STAGE2_TOLERANCES`) finished by Newton steps
    (:func:`~mixedmodels.optim.polish.newton_polish`). It ends at a criterion as low as lme4's
    Nelder-Mead or lower in a fraction of its evaluations (cbpp 58 against 285, grouseticks 3 terms
    234 against 994). lme4's own pair, ``("bobyqa", "nelder_mead")``, keeps lme4's stopping point.
    """
    o = opt_ctl.get("optimizer", DEFAULT_OPTIMIZERS)
    if isinstance(o, str):
        o = (o, o)
    if not isinstance(o, (tuple, list)) or len(o) != 2 or not all(isinstance(x, str) for x in o):
        raise ArgumentError(f"control['optimizer'] must be a name or a pair of names (stage 1, stage 2) such as "
                            f"('bobyqa', 'nelder_mead'), got {o!r}")
    o = tuple(x.lower().replace("-", "_") for x in o)
    bad = [x for x in o if x not in OPTIMIZERS]
    if bad:
        raise ArgumentError(f"unknown optimizer {bad[0]!r}; choose one of {', '.join(map(repr, OPTIMIZERS))}")
    return o[0], o[1]


