"""Math rendered to MathML when the site is built: the pages show it with no
script and no network (browsers render MathML themselves), where MathJax
from a CDN leaves raw TeX offline or behind a firewall."""
from latex2mathml.converter import convert
from sphinx.util.docutils import SphinxTranslator


def _inline(self: SphinxTranslator, node) -> None:
    self.body.append(convert(node.astext(), display="inline"))
    raise _skip()


def _block(self: SphinxTranslator, node) -> None:
    latex = node.astext()
    if node.get("number"):
        self.body.append(f'<div class="math-wrapper" id="equation-{node["docname"]}-{node["number"]}">')
    else:
        self.body.append('<div class="math-wrapper">')
    for part in latex.split("\n\n"):  # Sphinx's separate equations of one block
        if part.strip():
            self.body.append(convert(part.strip(), display="block"))
    self.body.append("</div>")
    raise _skip()


def _skip():
    from docutils import nodes

    return nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (_inline, None), (_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
