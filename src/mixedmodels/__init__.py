"""mixedmodels: linear and generalized linear mixed models with lme4's formulas and lmerTest's inference.

    import mixedmodels as mm
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    print(m.summary())

Heavy modules (pandas, scipy, formulaic) are imported on first use, so ``import mixedmodels`` is quick.
"""
from __future__ import annotations

import importlib

from . import errors
from .version import __version__

__all__ = ["__version__", "lmer", "glmer", "glmer_nb", "lm", "lmlist", "anova", "load_dataset", "load_result", "list_datasets", "families", "errors"]

_LAZY = {
    "lmer": ("fit.lmer", "lmer"),
    "glmer": ("fit.glmer", "glmer"),
    "anova": ("inference.lrt", "anova"),
    "load_dataset": ("datasets", "load_dataset"),
    "list_datasets": ("datasets", "list_datasets"),
    "families": ("glmm.families", None),
    "LmerResult": ("results.lmer", "LmerResult"),
    "glmer_nb": ("fit.glmer_nb", "glmer_nb"),
    "GlmerResult": ("results.glmer", "GlmerResult"),
    "load_result": ("fit.load", "load_result"),
    "lm": ("linear.lm", "lm"),
    "lmlist": ("linear.lmlist", "lmlist"),
    "LmResult": ("linear.lm", "LmResult"),
    "LmList": ("linear.lmlist", "LmList"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mixedmodels' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
