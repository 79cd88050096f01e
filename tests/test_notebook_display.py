"""How results show in a notebook: R's text keeps its columns, tables print as R formats them."""
import re

import numpy as np
import warnings

import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def fits():
    d = mm.load_dataset("sleepstudy")
    m1 = mm.lmer("Reaction ~ Days + (1 | Subject)", d)
    m2 = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    return m1, m2


def _monospace(html: str) -> bool:
    m = re.search(r'<pre style="([^"]*)">', html)
    return m is not None and "monospace" in m.group(1) and "white-space: pre" in m.group(1)


def test_summary_is_a_monospace_block_that_keeps_r_text(fits):
    s = fits[1].summary()
    h = s._repr_html_()
    assert _monospace(h)  # inline style: survives nbconvert's templates and themes that restyle <pre>
    assert "REML criterion at convergence: 1743.6" in h
    assert "Pr(&gt;|t|)" in h and "<script" not in h  # escaped, not markup


def test_glmer_summary_is_a_monospace_block():
    cbpp = mm.load_dataset("cbpp")
    g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    h = g.summary()._repr_html_()
    assert _monospace(h) and "Family: binomial  ( logit )" in h


def test_anova_tables_show_as_r_formats_them(fits):
    m1, m2 = fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lrt = mm.anova(m1, m2)
    h = lrt._repr_html_()
    assert "NaN" not in h and "nan" not in h  # R's NA: an empty cell
    assert "<td style=\"text-align:right\">2</td>" in h  # Df 2, not 2.0
    assert "7.072e-10" in h  # format.pval, not 7.07e-10 from pandas
    cap = re.search(r"<caption[^>]*>(.*?)</caption>", h, re.S).group(1)
    assert cap.split("<br>")[:2] == ["Data: sleepstudy", "Models:"]  # R's heading lines, kept as lines
    h3 = m2.anova()._repr_html_()
    assert "Type III Analysis of Variance Table with Satterthwaite&#x27;s method" in h3
    assert "3.264e-06" in h3


def test_the_package_says_it_is_typed_and_licensed():
    import importlib.metadata as md
    from pathlib import Path

    root = Path(mm.__file__).resolve().parent
    assert (root / "py.typed").is_file()  # PEP 561: type checkers read the annotations
    meta = md.metadata("mixedmodels")
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert "License :: OSI Approved :: MIT License" in meta.get_all("Classifier")
    lic = root.parent.parent / "LICENSE"
    if lic.parent.joinpath("pyproject.toml").is_file():  # a source checkout
        assert lic.read_text().startswith("MIT License")


def test_a_figure_shows_once_in_a_notebook(fits, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    m = fits[1]
    fig = m.plot.qq()  # a script (Agg here): pyplot keeps the figure, for plt.show() / plt.savefig()
    assert plt.fignum_exists(fig.number)
    plt.close(fig)
    # Jupyter's inline backend shows what pyplot holds at the end of a cell, and the cell's value
    # too: a figure handed back there is released from pyplot, so it shows once (as the value)
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    for draw in (m.plot.qq, m.plot.ranef, m.plot.residuals):
        fig = draw()
        assert not plt.fignum_exists(fig.number) and fig.axes  # not pyplot's, and drawn


def test_glmer_fits_have_plots():
    import matplotlib.pyplot as plt

    cbpp = mm.load_dataset("cbpp")
    g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    fig = g.plot.ranef()
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 15  # one row per herd
    fig2 = g.plot.residuals()
    xs = fig2.axes[0].collections[0].get_offsets()[:, 1]
    assert np.allclose(np.sort(xs), np.sort(g.resid("pearson").to_numpy()))  # as lme4's plot(m)
    plt.close("all")
