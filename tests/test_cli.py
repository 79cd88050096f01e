"""The command line, end to end: `python -m mixedmodels` in a subprocess, and main() in process for the rest."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.cli import clean, main
from mixedmodels.linear.lm import lm

SRC = str(Path(__file__).resolve().parents[1] / "src")
SLOPES = "Reaction ~ Days + (Days | Subject)"


def run(*args, stdin: str | None = None):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MIXEDMODELS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "mixedmodels", *args], capture_output=True, text=True,
                          input=stdin, env=env, timeout=300)


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity, which are not JSON."""
    def bad(token):
        raise AssertionError(f"{token} in JSON output")
    return json.loads(text, parse_constant=bad)


@pytest.fixture(scope="module")
def sleep_csv(tmp_path_factory) -> Path:
    """sleepstudy as a user's CSV: Subject as plain numbers, two rows with a missing reaction time."""
    d = mm.load_dataset("sleepstudy")
    d["Subject"] = d["Subject"].astype(int)
    d.loc[[3, 50], "Reaction"] = np.nan
    path = tmp_path_factory.mktemp("cli") / "sleep.csv"
    d.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def slopes_fit(sleep_csv):
    d = pd.read_csv(sleep_csv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(SLOPES, d)


# ------------------------------------------------------------------ through a subprocess
def test_fit_text_on_a_shipped_dataset():
    p = run("fit", "Reaction ~ 1 + Days + (1 + Days | Subject)", "--data", "sleepstudy")
    assert p.returncode == 0, p.stderr
    want = str(mm.lmer("Reaction ~ 1 + Days + (1 + Days | Subject)", mm.load_dataset("sleepstudy")).summary())
    assert p.stdout == want + "\n"
    assert "REML criterion at convergence: 1743.6" in p.stdout and "Data: sleepstudy" in p.stdout
    assert p.stderr == ""


def test_fit_json_on_a_csv_file(sleep_csv, slopes_fit):
    p = run("fit", SLOPES, "--data", str(sleep_csv), "--format", "json")
    assert p.returncode == 0, p.stderr
    out = strict_json(p.stdout)
    m = slopes_fit
    assert out["nobs"] == 178 == m.nobs and out["method"] == "REML" and out["data"] == "sleep"
    assert out["ngroups"] == {"Subject": 18}
    np.testing.assert_allclose(out["loglik"], m.loglik, rtol=1e-9)
    np.testing.assert_allclose(out["theta"], m.theta, rtol=1e-6)
    ct = m.coef_table()
    for name in ct.index:
        for col in ct.columns:
            np.testing.assert_allclose(out["coefficients"][name][col], ct.loc[name, col], rtol=1e-6)
    assert [r["grp"] for r in out["varcorr"]] == list(m.varcorr["grp"])
    assert set(out["ranef"]["Subject"]) == {str(s) for s in m.ranef()["Subject"].index}


def test_lm_markdown_and_stdin(sleep_csv):
    p = run("fit", "Reaction ~ Days", "--data", "-", "--format", "markdown", stdin=sleep_csv.read_text())
    assert p.returncode == 0, p.stderr
    assert "| (Intercept) |" in p.stdout and "| Days |" in p.stdout and "R-squared" in p.stdout


def test_bad_input_is_one_clear_line():
    p = run("fit", SLOPES, "--data", "no_such_file.csv")
    assert p.returncode == 1
    assert p.stderr == "error: --data: no such file: no_such_file.csv\n" and p.stdout == ""


def test_bad_options_exit_2_with_usage():
    p = run("fit", SLOPES, "--data", "sleepstudy", "--format", "xml")
    assert p.returncode == 2 and "invalid choice" in p.stderr and "Traceback" not in p.stderr
    p = run("fit", SLOPES)
    assert p.returncode == 2 and "--data" in p.stderr


# ------------------------------------------------------------------ in process (fast)
def test_compare_json_and_markdown(sleep_csv, capsys):
    args = ["compare", "Reaction ~ Days", "Reaction ~ Days + (1 | Subject)", SLOPES, "--data", str(sleep_csv)]
    assert main(args + ["--format", "json"]) == 0
    cap = capsys.readouterr()
    assert "note: refitting model(s) with ML" in cap.err  # lme4's message, as a note on stderr
    rows = strict_json(cap.out)["models"]
    assert [r["npar"] for r in rows] == [3, 4, 6]
    assert rows[0]["Chisq"] is None and rows[0]["Pr(>Chisq)"] is None  # NaN -> null
    assert rows[0]["formula"] == "Reaction ~ Days"
    assert rows[2]["Df"] == 2 and rows[2]["Chisq"] > 0
    assert main(args + ["--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| MODEL3 | 6 |" in md and "Pr(>Chisq)" in md
    assert main(args) == 0
    assert "MODEL3: Reaction ~ Days + (Days | Subject)" in capsys.readouterr().out


def test_fit_formats_in_process(sleep_csv, capsys):
    assert main(["fit", "Reaction ~ Days", "--data", str(sleep_csv)]) == 0
    text = capsys.readouterr().out
    assert text == str(lm("Reaction ~ Days", pd.read_csv(sleep_csv), data_name="sleep").summary()) + "\n"
    assert "(2 observations deleted due to missingness)" in text
    assert main(["fit", "Reaction ~ Days", "--data", str(sleep_csv), "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert html.startswith('<div class="mixedmodels">') and "<table" in html


def test_lm_json_has_every_number_and_no_nan(tmp_path, capsys):
    d = pd.DataFrame({"y": [1.0, 2.5, 2.9, 4.2, 5.1, 5.8], "x": [1, 2, 3, 4, 5, 6]})
    d["x2"] = 2 * d["x"]  # aliased: NA coefficient in R, null in JSON
    path = tmp_path / "aliased.csv"
    d.to_csv(path, index=False)
    assert main(["fit", "y ~ x + x2", "--data", str(path), "--format", "json"]) == 0
    out = strict_json(capsys.readouterr().out)
    m = lm("y ~ x + x2", d)
    assert out["aliased"] == ["x2"] and out["rank"] == 2
    assert out["confint"]["x2"] == {"2.5 %": None, "97.5 %": None}
    for key in ("sigma", "r_squared", "adj_r_squared", "loglik", "aic", "bic", "rss"):
        np.testing.assert_allclose(out[key], getattr(m, key), rtol=1e-12)
    assert out["fstatistic"]["numdf"] == 1 and out["npar"] == 3


def test_weights_option(sleep_csv, capsys):
    d = pd.read_csv(sleep_csv)
    d["w"] = 1.0 / (d["Days"] + 1)
    path = sleep_csv.parent / "weighted.csv"
    d.to_csv(path, index=False)
    assert main(["fit", "Reaction ~ Days", "--data", str(path), "--weights", "w", "--format", "json"]) == 0
    out = strict_json(capsys.readouterr().out)
    want = lm("Reaction ~ Days", d, weights="w")
    np.testing.assert_allclose(out["coefficients"]["Days"]["Estimate"], want.fixef["Days"], rtol=1e-12)
    assert main(["fit", "Reaction ~ Days", "--data", str(path), "--weights", "nope"]) == 1
    assert "--weights 'nope'" in capsys.readouterr().err


def test_datasets_and_demo(capsys):
    assert main(["datasets"]) == 0
    assert "sleepstudy" in capsys.readouterr().out.split()
    assert main(["datasets", "--format", "json"]) == 0
    info = strict_json(capsys.readouterr().out)
    assert {"name": "sleepstudy", "rows": 180, "columns": ["Reaction", "Days", "Subject"]} in info
    assert main([]) == 0
    assert "Formula: Reaction ~ 1 + Days + (1 + Days | Subject)" in capsys.readouterr().out


def test_more_bad_input(tmp_path, capsys):
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases = [
        (["fit", SLOPES, "--data", str(odd)], "use a .csv"),
        (["fit", SLOPES, "--data", str(empty)], "cannot read"),
        (["fit", SLOPES, "--data", str(tmp_path)], "directory"),
        (["compare", SLOPES, "--data", "sleepstudy"], "two or more"),
        (["fit", SLOPES, "--data", "nosuchdataset"], "neither a file nor a shipped data set"),
        (["fit", "Reaction ~ Dayz + (1 | Subject)", "--data", "sleepstudy"], "Dayz"),
        (["fit", "Reaction ~ Days", "--data", "sleepstudy", "--family", "poisson"], "--family needs a mixed model"),
        (["fit", "Reaction ~ Days", "--data", "sleepstudy", "--plots", str(tmp_path)], "--plots needs a mixed"),
        (["fit", "Reaction ~ Days + (1 | Subject", "--data", "sleepstudy"], "unmatched"),
    ]
    for args, message in cases:
        assert main(args) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (args, err)


@pytest.mark.parametrize("suffix,package", [(".parquet", "pyarrow"), (".sav", "pyreadstat")])
def test_optional_readers(tmp_path, capsys, suffix, package):
    path = tmp_path / f"sleep{suffix}"
    try:
        __import__(package)
        have = True
    except ImportError:
        have = False
    if have and suffix == ".parquet":
        mm.load_dataset("sleepstudy").to_parquet(path)
        assert main(["fit", "Reaction ~ Days", "--data", str(path)]) == 0
        assert "Residual standard error: 47.71" in capsys.readouterr().out
    elif not have:
        path.write_bytes(b"not really")
        assert main(["fit", "Reaction ~ Days", "--data", str(path)]) == 1
        assert f"pip install {package}" in capsys.readouterr().err
    else:
        pytest.skip("writing .sav files needs pyreadstat's writer; reading is pandas.read_spss")


def test_plots_are_saved(tmp_path, capsys, monkeypatch):
    """The CLI's side of --plots, with a stand-in for the (slow, separately tested) plots."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    import mixedmodels.cli as cli

    class Plots:
        def residuals(self):
            return plt.figure(figsize=(1, 1))

        def qq(self):
            return plt.figure(figsize=(1, 1))

    class Model:
        plot = Plots()
        formula = "y ~ x + (1 | g)"

        def summary(self):
            return "summary"

    monkeypatch.setattr(cli, "_fit", lambda *a, **k: Model())
    assert main(["fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy", "--plots", str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p").glob("*.png")) == ["qq.png", "residuals.png"]
    cap = capsys.readouterr()
    assert cap.out == "summary\n" and "plots saved" in cap.err


def test_clean_makes_plain_json():
    got = clean({"a": np.float64("nan"), "b": [np.int64(2), np.inf], "c": np.array([1.5, np.nan]),
                 "d": pd.Series({"x": 1.0}), "e": np.bool_(True)})
    assert got == {"a": None, "b": [2, None], "c": [1.5, None], "d": {"x": 1.0}, "e": True}
    json.dumps(got, allow_nan=False)


# ------------------------------------------------------------------ GLMM options: --nAGQ, --link, --offset, negbin
def _json_fit(capsys, *args):
    assert main(["fit", *args, "--format", "json"]) == 0
    return strict_json(capsys.readouterr().out)


def test_glmm_options_give_the_fits_of_the_api(capsys):
    cbpp = mm.load_dataset("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    out = _json_fit(capsys, f, "--data", "cbpp", "--family", "binomial", "--link", "probit", "--nAGQ", "5")
    want = mm.glmer(f, cbpp, family=mm.families.Binomial(link="probit"), nAGQ=5)
    np.testing.assert_allclose(list(out["fixef"].values()), want.beta, rtol=1e-10)
    assert main(["fit", f, "--data", "cbpp", "--family", "binomial", "--link", "probit", "--nAGQ", "5"]) == 0
    text = capsys.readouterr().out
    assert "Family: binomial  ( probit )" in text and "nAGQ = 5" in text


def test_offset_and_negative_binomial(capsys, tmp_path):
    g = mm.load_dataset("grouseticks").iloc[:160].copy()   # the CLI's plumbing: a small data set will do
    g["logh"] = np.log(g["HEIGHT"] / 100)
    g["YEAR"] = "y" + g["YEAR"].astype(str)  # a factor also when read back from CSV
    path = tmp_path / "ticks.csv"
    g.to_csv(path, index=False)
    f = "TICKS ~ YEAR + (1 | BROOD)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = mm.glmer_nb(f, pd.read_csv(path), offset="logh")
    out = _json_fit(capsys, f, "--data", str(path), "--family", "negbin", "--offset", "logh")
    assert list(out["fixef"]) == list(want.fixef.index)
    np.testing.assert_allclose(list(out["fixef"].values()), want.beta, rtol=1e-10)
    sleep = mm.load_dataset("sleepstudy").assign(off=lambda d: 0.5 * d["Days"])
    sleep_path = tmp_path / "sleep.csv"
    sleep.to_csv(sleep_path, index=False)
    out = _json_fit(capsys, "Reaction ~ Days + (1 | Subject)", "--data", str(sleep_path), "--offset", "off")
    want = mm.lmer("Reaction ~ Days + (1 | Subject)", pd.read_csv(sleep_path), offset="off")
    np.testing.assert_allclose(list(out["fixef"].values()), want.beta, rtol=1e-10)


def test_glmm_options_without_a_glmm_are_refused(capsys):
    assert main(["fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy", "--nAGQ", "3"]) == 1
    assert "--nAGQ needs --family" in capsys.readouterr().err
    assert main(["fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy", "--offset", "nope"]) == 1
    assert "--offset 'nope' is not a column" in capsys.readouterr().err
