"""The documentation site: it builds without a warning, documents every public
name, and the tutorial's Python blocks run as written."""
import inspect
import os
import re
import subprocess
import sys

import pytest

import fastbp

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
PUBLIC_MODULES = ["fastbp", "fastbp.optimizers", "fastbp.sklearn", "fastbp.reference", "fastbp.kernels",
                  "fastbp.testing"]


@pytest.fixture(scope="module")
def api_html(tmp_path_factory):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", DOCS, str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out / "api.html", encoding="utf-8") as f:
        return f.read()


def test_every_public_name_has_an_entry(api_html):
    import importlib

    documented = set(re.findall(r'id="([\w.]+)"', api_html))
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("__") or inspect.ismodule(getattr(module, name)):
                continue
            obj = getattr(module, name)
            home = getattr(obj, "__module__", module_name) if inspect.isclass(obj) or inspect.isfunction(obj) else module_name
            if f"{module_name}.{name}" not in documented and f"{home}.{name}" not in documented:
                missing.append(f"{module_name}.{name}")
    for name in dir(fastbp.Network):
        if not name.startswith("_") and f"fastbp.Network.{name}" not in documented:
            missing.append(f"fastbp.Network.{name}")
    assert not missing, f"not in docs/api.rst: {missing}"


@pytest.mark.parametrize("name", ["forward", "loss", "gradients", "step", "predict", "load"])
def test_network_methods_say_what_they_return(name):
    doc = inspect.getdoc(getattr(fastbp.Network, name))
    assert "Returns\n-------" in doc, name
    assert "Parameters\n----------" in doc, name


def test_the_tutorials_python_runs():
    pytest.importorskip("sklearn")
    with open(os.path.join(DOCS, "tutorial.md"), encoding="utf-8") as f:
        blocks = re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:  # one namespace, in order, as a reader would type them
        exec(compile(block, "docs/tutorial.md", "exec"), namespace)
