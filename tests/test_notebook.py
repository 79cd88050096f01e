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
