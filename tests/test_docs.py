"""The documentation site: it builds without a warning, documents every public
name, and the tutorial's Python blocks run as written."""
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

import fastbp

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
PUBLIC_MODULES = ["fastbp", "fastbp.optimizers", "fastbp.sklearn", "fastbp.reference", "fastbp.kernels",
                  "fastbp.testing"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The documentation site, built as CI builds it (warnings as errors)."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    # Into the README's folder, with the README's options: its build command
    # (.ci/run's next step) then finds the site up to date instead of building it again.
    out = pathlib.Path(DOCS) / "_build" / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", DOCS, str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def api_html(site):
    with open(site / "api.html", encoding="utf-8") as f:
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


def test_each_fit_parameter_has_its_own_description(api_html):
    """In the built API page, every parameter of ``Network.fit`` is listed
    under its own name with a description of its own (no shared or mangled entries)."""
    start = api_html.index('id="fastbp.Network.fit"')
    section = api_html[start:api_html.index("</dl>", api_html.index("Parameters", start))]
    entries = dict(re.findall(r"<strong>(\w+)</strong>(.*?)</li>", section, flags=re.S))
    for name in list(inspect.signature(fastbp.Network.fit).parameters)[1:]:
        assert name in entries, f"fit's {name!r} has no entry of its own"
    texts = [re.sub(r"<[^>]+>|\s+", " ", t).strip() for t in entries.values()]
    assert len(set(texts)) == len(texts), "two parameters share one description"


def test_the_site_needs_no_network(site):
    """Math is MathML in the page, no page loads a remote script."""
    pages = [os.path.join(d, f) for d, _, files in os.walk(site) for f in files if f.endswith(".html")]
    assert any(p.endswith("math.html") for p in pages)
    for page in pages:
        with open(page, encoding="utf-8") as f:
            html = f.read()
        assert not re.search(r"<script[^>]+src=\"(https?:)?//", html), f"{page} loads a remote script"
        if page.endswith("math.html"):
            assert html.count("<math") > 10 and "\\(" not in html, "math.html's math is not rendered"
