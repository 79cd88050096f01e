"""lme4's convergence reporting (checkConv, lme4 1.1-31) for lmer and glmer: the warning at the fit, the
messages kept with the result, the last lines of summary(), m.check()'s count, and the Weights: line."""
import dataclasses
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.optim.convergence import (GRAD_TOL, SINGULAR_MESSAGE, conv_messages, deriv12, lmer_convergence)
from mixedmodels.errors import ConvergenceWarning, SingularFitWarning

HERE = Path(__file__).parent
GRAD_RE = r"Model failed to converge with max\|grad\| = [0-9.e-]+ \(tol = 0\.002, component 1\)"
MAXEVAL = "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval (above) was reached."


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


def _fit(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = mm.lmer(*args, **kwargs)
    return m, caught


def _tail(summary, n):
    return str(summary).splitlines()[-n:]


# ---------------------------------------------------------------------------------------------- checkConv

def test_conv_messages_follow_lme4():
    H = np.array([[2.0, 0.0], [0.0, 8.0]])
    assert conv_messages(np.array([1e-4, -1e-4]), H, singular=False) == []
    # the scaled gradient solve(chol(H), g) = (0.01 / sqrt(2), 0.01 / sqrt(8)), below |g|
    msgs = conv_messages(np.array([0.01, 0.01]), H, singular=False)
    assert msgs == [f"Model failed to converge with max|grad| = {0.01 / np.sqrt(2):.6g} (tol = 0.002, component 1)"]
    # flat curvature: the scaled gradient 1e-3 / sqrt(1e-5) = 0.32 is large, the gradient is not (lme4's pmin)
    flat = conv_messages(np.array([1e-3, 0.0]), np.diag([1e-5, 1.0]), singular=False)
    assert not any(m.startswith("Model failed to converge with") for m in flat)
    # a singular fit: only that message, no gradient or Hessian checks (even with bad derivatives)
    assert conv_messages(np.array([5.0, 5.0]), -H, singular=True) == [SINGULAR_MESSAGE]
    assert conv_messages(np.array([np.nan, 0.0]), H, singular=False) == ["Gradient contains NAs"]
    neg = conv_messages(np.zeros(2), np.diag([1.0, -1.0]), singular=False)
    assert neg == ["unable to evaluate scaled gradient",
                   "Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"]
    big = conv_messages(np.zeros(2), np.diag([1.0, 1e7]), singular=False)
    assert big == ["Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?",
                   "Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?"]
    assert conv_messages(None, None, singular=False) == []


def test_deriv12_is_still_importable_from_glmm():
    from mixedmodels.fit.glmer import deriv12 as d

    assert d is deriv12
    g, H = deriv12(lambda x: float(x[0] ** 2 + 3 * x[0] * x[1]), np.array([1.0, 2.0]))
    assert np.allclose(g, [8.0, 3.0]) and np.allclose(H, [[2.0, 3.0], [3.0, 0.0]], atol=1e-6)


def test_bodyweight_gradient_at_r_estimate_is_r_message():
    # lme4 1.1-31 stops BodyWeight's weight ~ Time * Diet + (Time | Rat) at this theta and warns
    # "Model failed to converge with max|grad| = 0.00687887"; our optimizer finds a lower REML criterion,
    # where the check passes; at R's theta our check gives R's number
    sys.path.insert(0, str(HERE / "reference"))
    import refcheck

    ref = json.loads((HERE / "reference_extra" / "cases" / "bodyweight_diet.json").read_text())
    data = refcheck.load_data(HERE / "reference_extra", ref["dataset"])
    m, caught = _fit(ref["formula"], data)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert lmer_convergence(m).messages == []
    at_r = dataclasses.replace(m, theta=np.asarray(ref["theta"], dtype=float))
    msgs = lmer_convergence(at_r).messages
    assert len(msgs) == 1 and re.fullmatch(GRAD_RE, msgs[0])
    value = float(re.search(r"= ([0-9.e-]+) ", msgs[0]).group(1))
    assert value == pytest.approx(0.00687887, rel=2e-3)
    assert ref["lme4_messages"] == "Model failed to converge with max|grad| = 0.00687887 (tol = 0.002, component 1)"


# ---------------------------------------------------------------------------------------------- lmer fits

def test_gradient_failure_with_optimizer_ok_warns_and_prints(sleep):
    # a loose xtol_rel: NLopt reports success (code 4, lme4's 0) at a point that is not a minimum
    m, caught = _fit("Reaction ~ Days + (Days | Subject)", sleep, control={"xtol_rel": 0.1})
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1 and re.fullmatch(GRAD_RE, str(conv[0].message))
    assert conv[0].filename == __file__  # the warning points at the user's call
    c = lmer_convergence(m)
    assert c.code == 0 and c.warnings == [] and c.messages == [str(conv[0].message)]
    assert c.gradient.shape == (3,) and c.hessian.shape == (3, 3)
    text = str(m.summary())
    # right after the correlation block, as lme4's print of an lmer summary
    # (the correlation's digits are the stopped point's, after the Newton polish's partial steps)
    tail = _tail(text, 3)
    assert re.fullmatch(r"Days -0\.1\d\d", tail[0])
    assert tail[1:] == ["optimizer (nloptwrap) convergence code: 0 (OK)", str(conv[0].message)]
    assert "Correlation of Fixed Effects" in text.split("optimizer (nloptwrap)")[0]
    rep = m.check()
    assert not rep.converged and rep.lme4_messages == c.messages
    assert len(rep.issues) == 1 and "not flat" in rep.issues[0]
    assert "1 problem found" in str(rep)


def test_maxeval_fit_reports_code_messages_and_optimizer_warning(sleep):
    m, caught = _fit("Reaction ~ Days + (Days | Subject)", sleep, control={"maxeval": 10})
    texts = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any(re.fullmatch(GRAD_RE, t) for t in texts)
    c = lmer_convergence(m)
    assert c.code == 5 and c.message == MAXEVAL
    grad = [t for t in texts if re.fullmatch(GRAD_RE, t)][0]
    # lme4's .prt.warn: the code with nloptr's message, lme4's messages, then optinfo$warnings
    assert _tail(m.summary(), 3) == [f"optimizer (nloptwrap) convergence code: 5 ({MAXEVAL})", grad,
                                     f"convergence code 5 from nloptwrap: {MAXEVAL}"]
    rep = m.check()
    assert not rep.converged
    assert len(rep.issues) == sum(ln.startswith("!") for ln in (s.strip() for s in str(rep).splitlines()))
    assert f"{len(rep.issues)} problem" in str(rep)


def test_well_converged_fit_is_silent(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    c = m.convergence
    assert c.ok and c.messages == [] and c.summary_lines() == []
    assert np.max(np.abs(c.gradient)) < GRAD_TOL
    nevals = m.core.nevals
    assert "convergence code" not in str(m.summary())
    assert m.convergence is c and m.core.nevals == nevals  # kept on the fit: the summary does not repeat it


def test_refits_to_new_responses_do_not_check_until_asked(sleep):
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = m.refit(y=sleep["Reaction"].to_numpy() + np.arange(len(sleep)) % 7)
    assert "_lme4_convergence" not in r.__dict__
    assert lmer_convergence(r).messages == []


def test_singular_fit_skips_the_gradient_check():
    dy2 = mm.load_dataset("Dyestuff2")
    m, caught = _fit("Yield ~ 1 + (1 | Batch)", dy2)
    assert [w.category for w in caught] == [SingularFitWarning]
    c = lmer_convergence(m)
    assert c.messages == [SINGULAR_MESSAGE] and c.gradient is None
    assert _tail(m.summary(), 2) == ["optimizer (nloptwrap) convergence code: 0 (OK)", SINGULAR_MESSAGE]


# ---------------------------------------------------------------------------------------------- m.check()

def test_check_counts_one_problem():
    m, _ = _fit("Yield ~ 1 + (1 | Batch)", mm.load_dataset("Dyestuff2"))
    rep = m.check()
    assert rep.converged and rep.singular and rep.scale_ok
    assert len(rep.issues) == 1 and "Batch" in rep.issues[0]
    text = str(rep)
    assert "1 problem found" in text and "Convergence: OK" in text and "Singularity: PROBLEM" in text


def test_check_counts_singular_and_unconverged_as_two_problems():
    m, caught = _fit("Yield ~ 1 + (1 | Batch)", mm.load_dataset("Dyestuff2"), control={"maxeval": 4})
    assert m.is_singular and not m.converged
    rep = m.check()
    assert not rep.converged and rep.singular
    assert len(rep.issues) == 2
    assert "did not report convergence" in rep.issues[0] and "Batch" in rep.issues[1]
    text = str(rep)
    assert "2 problems found" in text
    assert text.count("\n  ! ") == 2  # the lines marked as problems are the ones counted


def test_check_on_a_good_fit_has_no_issues(sleep):
    rep = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep).check()
    assert rep.ok and rep.issues == [] and "All checks passed." in str(rep) and "  ! " not in str(rep)


# ---------------------------------------------------------------------------------------------- Weights:

def test_weights_line_names_the_column(sleep):
    d = sleep.assign(w=1.0 + np.arange(len(sleep)) % 3)
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights="w")
    lines = str(m.summary()).splitlines()
    i = lines.index("   Data: sleepstudy")
    assert lines[i + 1] == "Weights: w"
    assert "Weights: w" in str(m.refit(REML=False).summary())
    series = mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights=d["w"].rename("wts"))
    assert "Weights: wts" in str(series.summary())
    arr = mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights=d["w"].to_numpy())
    assert "Weights: <array>" in str(arr.summary())
    assert "Weights:" not in str(mm.lmer("Reaction ~ Days + (1 | Subject)", d).summary())


def test_glmer_weights_line_for_an_array():
    cb = mm.load_dataset("cbpp").assign(prop=lambda d: d["incidence"] / d["size"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        col = mm.glmer("prop ~ period + (1 | herd)", cb, family="binomial", weights="size")
        arr = mm.glmer("prop ~ period + (1 | herd)", cb, family="binomial", weights=cb["size"].to_numpy())
    assert "Weights: size" in str(col.summary())
    assert "Weights: <array>" in str(arr.summary())


def test_glmer_uses_the_same_checks():
    cb = mm.load_dataset("cbpp")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb, family="binomial")
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert g.messages == conv_messages(g.gradient, g.hessian, singular=g.is_singular) == []


# ------------------------------------------------------------------ ending at the optimum

def test_a_theta_left_just_above_zero_is_set_to_zero_where_no_worse():
    """BOBYQA can stall a little above a boundary optimum (nlme's Early with numpy 1.24: 5e-4)."""
    from dataclasses import replace

    from mixedmodels.fit.lmer import _snap_to_boundary

    rng = np.random.default_rng(2)
    d = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60), "g": np.repeat(np.arange(10), 6)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.errors.SingularFitWarning)
        m = mm.lmer("y ~ x + (1 | g)", d)
    assert m.theta[0] == 0
    stalled = replace(m, theta=np.array([5e-4]))
    snapped = _snap_to_boundary(stalled)
    assert snapped.theta[0] == 0 and snapped.objective <= stalled.objective
    away = replace(m, theta=np.array([0.05]))  # beyond the snap distance: left alone
    assert _snap_to_boundary(away) is away


def test_a_fit_stopped_short_of_the_optimum_is_restarted(sleepstudy):
    """Where the gradient check fails after a converged BOBYQA run, one restart walks on."""
    from dataclasses import replace

    from mixedmodels.optim.convergence import lmer_convergence
    from mixedmodels.fit.lmer import _restart_if_unconverged

    m = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    short = replace(m, theta=m.theta * np.array([1.05, 1.0, 0.95]))
    assert lmer_convergence(short).messages  # the check fails there
    again = _restart_if_unconverged(short)
    assert again.objective < short.objective
    assert again.objective == pytest.approx(m.objective, abs=1e-6)
    assert again.optinfo.nevals > short.optinfo.nevals
    stopped = replace(short, optimizer_report=replace(short.optimizer_report, converged=False))  # maxeval reached: respected
    assert _restart_if_unconverged(stopped) is stopped
