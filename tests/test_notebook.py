"""The example notebook, executed in a real Jupyter kernel (nbclient): what a student sees."""
import os
import re
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient (test extra) runs the notebook")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel", reason="the notebook needs a Python kernel (ipykernel, test extra)")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "sleepstudy.ipynb"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" is ipykernel's own kernel: this interpreter (the test venv's), whatever else is installed
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    # Jupyter's own backend (inline), as a notebook has it: not a headless MPLBACKEND some other test set
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    client.execute(env=env)
    return nb


def _outputs(nb, needle):
    cell = next(c for c in nb.cells if c.cell_type == "code" and needle in c.source)
    return cell.outputs


def test_the_notebook_runs_without_errors(executed):
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""


def test_the_summary_shows_in_a_monospace_block(executed):
    (out,) = [o for o in _outputs(executed, "m2.summary()") if o.output_type == "execute_result"]
    html = out.data["text/html"]
    assert re.search(r'<pre style="[^"]*monospace[^"]*white-space: pre', html)
    assert "REML criterion at convergence: 1743.6" in html


def test_anova_tables_show_as_r_formats_them(executed):
    (out,) = [o for o in _outputs(executed, "comparison = mm.anova") if o.output_type == "execute_result"]
    html = out.data["text/html"]
    assert "Data: sleepstudy" in html and "NaN" not in html and "Pr(&gt;Chisq)" in html
    (out,) = [o for o in _outputs(executed, "m2.anova()") if o.output_type == "execute_result"]
    assert "Type III Analysis of Variance Table" in out.data["text/html"]


def test_a_figure_shows_once(executed):
    images = [o for o in _outputs(executed, "m2.plot.ranef()") if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_a_bootstrap_shows_its_progress(executed):
    outs = _outputs(executed, 'confint(method="boot"')
    bars = [o for o in outs if o.output_type == "stream" and o.name == "stderr" and "bootstrap" in o.text]
    widgets = [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert bars or widgets, [o.output_type for o in outs]
    assert any(o.output_type == "execute_result" for o in outs)


# ------------------------------------------------------------------ the exported HTML in a real browser

def _browser():
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


# measured inside the page by the browser's own layout: the summary block's font, whether its
# characters all have one width (so R's columns line up), and the figures that loaded
_MEASURE = """
<script>
window.addEventListener("load", function () {
  var out = {summaries: [], images: 0, images_loaded: 0};
  document.querySelectorAll("pre").forEach(function (pre) {
    if (pre.textContent.indexOf("REML criterion at convergence") < 0) return;
    var w = function (text) {
      var s = document.createElement("span"); s.textContent = text; pre.appendChild(s);
      var width = s.getBoundingClientRect().width; pre.removeChild(s); return width;
    };
    out.summaries.push({font: getComputedStyle(pre).fontFamily, narrow: w("iiiiiiiiiiiiiiiiiiii"),
                        wide: w("MMMMMMMMMMMMMMMMMMMM"), digits: w("00000000000000000000"),
                        spaces: w("                    ")});
  });
  document.querySelectorAll("img").forEach(function (img) {
    out.images += 1; if (img.complete && img.naturalWidth > 100) out.images_loaded += 1;
  });
  var d = document.createElement("div"); d.id = "mm-check"; d.textContent = JSON.stringify(out);
  document.body.appendChild(d);
});
</script>
"""


def test_the_exported_notebook_lines_up_in_a_real_browser(executed, tmp_path):
    """nbconvert's HTML export, opened in headless Chromium: the summary is in a monospace font (every
    character, space included, one width, so R's columns line up) and the figures are there."""
    import json
    import subprocess

    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium package)")
    nbconvert = pytest.importorskip("nbconvert", reason="nbconvert (test extra) exports the notebook's HTML")
    html, _ = nbconvert.HTMLExporter().from_notebook_node(executed)
    page = tmp_path / "sleepstudy.html"
    page.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    shot = os.environ.get("MM_NOTEBOOK_SCREENSHOT")  # docs/img/notebook.png was made this way
    if shot:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1100,1500", f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, timeout=120)
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<div id="mm-check">(.*?)</div>', dom)
    assert found, "the page's measuring script did not run"
    res = json.loads(found.group(1).replace("&quot;", '"'))
    assert res["summaries"], "no summary block in the exported page"
    for s in res["summaries"]:
        assert s["narrow"] > 0
        assert s["narrow"] == pytest.approx(s["wide"], rel=1e-6), s
        assert s["digits"] == pytest.approx(s["wide"], rel=1e-6), s
        assert s["spaces"] == pytest.approx(s["wide"], rel=1e-6), s
    figures = sum("image/png" in o.get("data", {}) for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert figures >= 1 and res["images"] == figures and res["images_loaded"] == figures, res
