"""Formula strings -> parsed terms (lme4's expansions), and small data -> expected columns."""
import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design.fixed import fixed_design
from mixedmodels.design.frame import model_frame
from mixedmodels.design.matrix import r_column_name
from mixedmodels.design.random import grouping_codes, random_terms
from mixedmodels.errors import FormulaError
from mixedmodels.formula.parse import parse_formula


@pytest.mark.parametrize("formula, fixed, random", [
    ("y ~ x + (1 | g)", "x", [("1", ("g",))]),
    ("y ~ x + (x | g)", "x", [("x", ("g",))]),
    ("y ~ 1 + x + (1 + x | g)", "1 + x", [("1 + x", ("g",))]),
    ("y ~ x + (0 + x | g)", "x", [("0 + x", ("g",))]),
    ("y ~ x + (x || g)", "x", [("1", ("g",)), ("0 + x", ("g",))]),
    ("y ~ x + (0 + x + z || g)", "x", [("0 + x", ("g",)), ("0 + z", ("g",))]),
    ("y ~ x + (x - 1 || g)", "x", [("0 + x", ("g",))]),
    ("y ~ (1 | a/b)", "1", [("1", ("b", "a")), ("1", ("a",))]),
    ("y ~ (1 | a/b/c)", "1", [("1", ("c", "b", "a")), ("1", ("b", "a")), ("1", ("a",))]),
    ("y ~ (1 | a:b)", "1", [("1", ("a", "b"))]),
    ("y ~ x + (1 | g) + (1 | h)", "x", [("1", ("g",)), ("1", ("h",))]),
    ("y ~ (1 | g) + (0 + x | g)", "1", [("1", ("g",)), ("0 + x", ("g",))]),
    ("y ~ 0 + x + (1 | g)", "0 + x", [("1", ("g",))]),
    ("y ~ x + (1 | g) - 1", "x - 1", [("1", ("g",))]),
    ("y ~ a * b + I(x^2) + (1 | g)", "a * b + I(x^2)", [("1", ("g",))]),
])
def test_parse(formula, fixed, random):
    p = parse_formula(formula)
    assert p.response == "y"
    assert p.fixed == fixed
    assert [(t.expr, t.factors) for t in p.random] == random


def test_group_names_as_lme4_prints_them():
    p = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [t.group for t in p.random] == ["cask:batch", "batch"]
    assert str(p.random[0]) == "(1 | cask:batch)"


def test_offset_terms_are_separated():
    p = parse_formula("y ~ x + offset(log(n)) + (1 | g)")
    assert p.fixed == "x" and p.offsets == ("log(n)",)


@pytest.mark.parametrize("bad, where", [
    ("y ~ x + (1 | g", "unmatched '('"),
    ("y ~ x + 1 | g)", "unmatched ')'"),
    ("y ~ x + ( | g)", "nothing on the left of '|'"),
    ("y ~ x + (1 | )", "no grouping factor"),
    ("y ~ x + + (1 | g)", "empty term"),
    ("~ x + (1 | g)", "no response"),
    ("y ~ x + (1 | log(g))", "must be a column name"),
])
def test_syntax_errors(bad, where):
    with pytest.raises(FormulaError, match=where.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        parse_formula(bad)


@pytest.mark.parametrize("formulaic, r", [
    ("Intercept", "(Intercept)"), ("recipe[T.B]", "recipeB"), ("recipe[T.B]:temp", "recipeB:temp"),
    ("f[a]", "fa"), ("poly(x, 2)[1]", "poly(x, 2)1"), ("I(x ** 2)", "I(x^2)"), ("flag[T.True]", "flagTRUE"),
    ("scale(x)", "scale(x)"), ("log(x)", "log(x)"),
])
def test_r_column_names(formulaic, r):
    assert r_column_name(formulaic) == r


@pytest.fixture
def small():
    return pd.DataFrame({
        "y": [1.0, 2.0, 3.5, 4.0, 5.5, 6.0, 7.5, 8.0],
        "x": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0],
        "f": pd.Categorical(list("abcabcab"), categories=["c", "a", "b"]),
        "g": ["u", "u", "v", "v", "w", "w", "u", "v"],
        "h": [2, 1, 2, 1, 2, 1, 2, 1],
    })


def _design(formula, data):
    p = parse_formula(formula)
    frame = model_frame(p, data)
    return fixed_design(p, frame), random_terms(p, frame)


def test_fixed_columns_follow_r(small):
    fx, _ = _design("y ~ f * x + (1 | g)", small)
    assert fx.names == ["(Intercept)", "fa", "fb", "x", "fa:x", "fb:x"]
    # treatment contrasts with the first level ("c") as reference
    np.testing.assert_array_equal(fx.X[:3, 1], [1, 0, 0])  # rows are a, b, c
    np.testing.assert_array_equal(fx.X[:3, 2], [0, 1, 0])
    fx, _ = _design("y ~ 0 + f + (1 | g)", small)
    assert fx.names == ["fc", "fa", "fb"]


def test_fixed_functions(small):
    fx, _ = _design("y ~ log(x) + I(x^2) + scale(x) + (1 | g)", small)
    assert fx.names == ["(Intercept)", "log(x)", "I(x^2)", "scale(x)"]
    np.testing.assert_allclose(fx.X[:, 1], np.log(small.x))
    np.testing.assert_allclose(fx.X[:, 2], small.x ** 2)
    np.testing.assert_allclose(fx.X[:, 3], (small.x - small.x.mean()) / small.x.std(ddof=1))
    fx, _ = _design("y ~ poly(x, 2) + (1 | g)", small)
    assert fx.names == ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"]
    # R's poly(): orthonormal columns, orthogonal to the intercept
    P = fx.X[:, 1:]
    np.testing.assert_allclose(P.T @ P, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=0), 0, atol=1e-12)


def test_random_term_columns_and_levels(small):
    _, terms = _design("y ~ x + (1 + x | g) + (1 | h)", small)
    g, h = terms  # g has 3 levels, h has 2: lme4 puts g first
    assert (g.group, g.levels, g.cnames) == ("g", ["u", "v", "w"], ["(Intercept)", "x"])
    np.testing.assert_array_equal(g.codes, [0, 0, 1, 1, 2, 2, 0, 1])
    np.testing.assert_array_equal(g.z[:, 1], small.x)
    # numeric grouping values are treated as categorical and sorted
    assert (h.group, h.levels) == ("h", ["1", "2"])


def test_terms_ordered_by_number_of_levels(small):
    _, terms = _design("y ~ (1 | h) + (1 | g)", small)
    assert [t.group for t in terms] == ["g", "h"]


def test_interaction_grouping_levels(small):
    codes, labels = grouping_codes(("f", "g"), small)
    # first factor varies slowest, in its level order (c, a, b); unobserved combinations dropped
    assert labels == ["c:v", "c:w", "a:u", "a:v", "b:u", "b:v", "b:w"]
    assert [labels[c] for c in codes[:3]] == ["a:u", "b:u", "c:v"]


def test_polars_frames_are_accepted(sleepstudy):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"Reaction": sleepstudy["Reaction"].to_list(), "Days": sleepstudy["Days"].to_list(),
                          "Subject": sleepstudy["Subject"].astype(str).to_list()})
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", frame)
    ref = mm.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    assert m.nobs == 180 and m.ngroups == {"Subject": 18}
    assert m.objective == pytest.approx(ref.objective, abs=1e-8)


def test_logical_predictor_is_a_factor_as_in_r(sleepstudy):
    d = sleepstudy.assign(late=sleepstudy["Days"] > 4)
    m = mm.lmer("Reaction ~ late + (1 | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "lateTRUE"]
    late = d["Reaction"][d["late"]].mean() - d["Reaction"][~d["late"]].mean()
    assert m.fixef["lateTRUE"] == pytest.approx(late, rel=1e-6)  # balanced: the difference of means
    assert m.predict(d.iloc[[9]], re_form="~0").iloc[0] == pytest.approx(m.fixef.sum())


@pytest.mark.parametrize("formula, names", [
    # R orders an interaction's variables by their first appearance in the formula
    ("y ~ x + f + f:x + (1 | g)", ["(Intercept)", "x", "fa", "fb", "x:fa", "x:fb"]),
    ("y ~ f + x + x:f + (1 | g)", ["(Intercept)", "fa", "fb", "x", "fa:x", "fb:x"]),
    ("y ~ log(x) + f + f:log(x) + (1 | g)", ["(Intercept)", "log(x)", "fa", "fb", "log(x):fa", "log(x):fb"]),
    ("y ~ poly(x, 2) * f + (1 | g)", ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2", "fa", "fb",
                                     "poly(x, 2)1:fa", "poly(x, 2)2:fa", "poly(x, 2)1:fb", "poly(x, 2)2:fb"]),
])
def test_interaction_names_follow_r(small, formula, names):
    # expected names from R's model.matrix() on the same formula (before rank-deficient columns drop)
    fx, _ = _design(formula, small)
    assert fx.all_names == names


@pytest.mark.parametrize("term", ["C(f, contr.sum)", 'C(f, "contr.sum")', "C(f, contr.helmert)"])
def test_contrasts_in_c_say_they_are_not_supported(term):
    """R accepts C(f, contr.sum); here it is a clear FormulaError (not 'contr.sum is not a column',
    nor formulaic's 'tuple index out of range')."""
    s = mm.load_dataset("sleepstudy").assign(f=lambda d: d["Days"].astype(str))
    with pytest.raises(mm.errors.FormulaError, match="contrasts .*not supported yet"):
        mm.lmer(f"Reaction ~ {term} + (1 | Subject)", s)
