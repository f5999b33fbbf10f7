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

# One worker builds the site: two builds into docs/_build/html at once would collide.
pytestmark = pytest.mark.xdist_group("docs")

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


def _anchors_and_links(site):
    """Every page's ids, and every (page, href) of a link inside the site."""
    from html.parser import HTMLParser

    ids, links = {}, []

    class Page(HTMLParser):
        def __init__(self, name):
            super().__init__()
            self.name = name
            ids[name] = set()

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            for key in ("id", "name"):
                if attrs.get(key):
                    ids[self.name].add(attrs[key])
            if tag == "a" and attrs.get("href"):
                links.append((self.name, attrs["href"]))

    for path in site.rglob("*.html"):
        name = path.relative_to(site).as_posix()
        Page(name).feed(path.read_text(encoding="utf-8"))
    return ids, links


def test_every_internal_link_and_anchor_of_the_site_resolves(site):
    """Links between the site's pages (the API's, the source pages' and the
    notes') land on a page that exists and on an anchor that page has."""
    import posixpath
    from urllib.parse import unquote, urlsplit

    ids, links = _anchors_and_links(site)
    broken = []
    for page, href in links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path))) if parts.path \
            else page
        if target.endswith("/") or target == ".":
            target = posixpath.join(target, "index.html").lstrip("./")
        if not target.endswith(".html"):
            if not (site / target).exists():
                broken.append(f"{page}: {href} (no such file)")
            continue
        if target not in ids:
            broken.append(f"{page}: {href} (no such page)")
        elif parts.fragment and unquote(parts.fragment) not in ids[target]:
            broken.append(f"{page}: {href} (no such anchor)")
    assert not broken, "\n".join(broken[:40])


def test_the_site_has_one_heading_per_title_and_no_empty_sidebar(site):
    text = (site / "performance.html").read_text(encoding="utf-8")
    headings = re.findall(r"<h[12][^>]*>(.*?)<a class=\"headerlink\"", text, re.S)
    titles = [re.sub(r"<[^>]+>", "", h).strip() for h in headings]
    assert len(titles) == len(set(titles)), titles
    for page in ("index.html", "api.html", "performance.html"):
        html = (site / page).read_text(encoding="utf-8")
        assert "Section Navigation" not in html, page  # an empty box on every page


def test_wide_tables_scroll_and_display_math_stands_clear(site):
    """The stylesheet that keeps the performance tables from being cut off
    and display equations from overlapping the next block is linked from the
    pages and holds those rules (the rendering itself is not checked here)."""
    page = (site / "performance.html").read_text(encoding="utf-8")
    assert "_static/fastbp.css" in page
    css = (site / "_static" / "fastbp.css").read_text(encoding="utf-8")
    assert re.search(r"table\s*{[^}]*overflow-x:\s*auto", css)
    assert re.search(r'math\[display="block"\]\s*{[^}]*display:\s*block', css)
