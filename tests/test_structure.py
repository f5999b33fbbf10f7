"""How the package hangs together: the layering, and the optimizer table."""
import subprocess
import sys

import numpy as np
import pytest

import fastbp
from fastbp import kernels, optimizers, reference
from fastbp.testing import _args_train_epoch_optim


def test_the_reference_runs_without_any_compiled_code():
    """The oracle must not share code with what it checks: training, gradients
    and prediction with fastbp.reference import neither Numba nor fastbp.kernels."""
    code = """
import sys
import numpy as np
import fastbp
net = fastbp.reference.Network([4, 5, 3], activation="tanh", seed=0)
X, y = np.random.default_rng(0).normal(size=(20, 4)), np.arange(20) % 3
for opt in fastbp.optimizers.NAMES:
    net.fit(X, y, epochs=2, batch_size=8, lr=0.01, optimizer=opt, threads=1)
net.gradients(X, np.eye(3)[y]); net.step(X, np.eye(3)[y]); net.predict(X)
loaded = [m for m in sys.modules if m.split(".")[0] == "numba" or m.startswith("fastbp.kernels")]
print(loaded)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


@pytest.mark.parametrize("impl", [kernels, reference], ids=["kernels", "reference"])
def test_an_unknown_optimizer_code_is_an_error_not_a_fallback(impl):
    args = list(_args_train_epoch_optim(np.random.default_rng(0), (4, 3, 5), np.dtype("float64"), ("tanh", "adam")))
    args[8] = max(optimizers.SPECS) + 1
    before = args[4].copy()
    with pytest.raises(ValueError, match="unknown optimizer code"):
        impl.train_epoch_optim(*args)
    np.testing.assert_array_equal(args[4], before)  # refused before any parameter moved


def test_every_optimizer_is_reachable_everywhere():
    """Each specification has a name, a command-line choice, an update kernel
    compiled in ``kernels/update.py`` (not just a name in a table) whose
    parameters its twin has, and ``hyper`` slots of its own; codes are unique."""
    import inspect

    import numba.core.registry

    from fastbp.cli import build_parser
    from fastbp.kernels import update

    choices = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                   if a.dest == "optimizer").choices
    for code, spec in optimizers.SPECS.items():
        assert spec.name in optimizers.NAMES and spec.name in choices
        kernel = vars(update).get(spec.update)
        assert isinstance(kernel, numba.core.registry.CPUDispatcher), spec.update
        params = list(inspect.signature(kernel.py_func).parameters)
        assert list(inspect.signature(getattr(reference, spec.update)).parameters) == params
        assert len(params) == 4 + 2 * spec.state_copies + 1 + len(spec.params) + 2  # (W, b, dW, db, state, lr, ..., step, l2)
        slots = [slot for _, slot, _ in spec.params]
        assert sorted(slots) == list(range(optimizers.N_COMMON, optimizers.N_COMMON + len(slots)))
    assert isinstance(optimizers.resolve("sgd"), fastbp.optimizers.SGD)


def test_import_fastbp_stays_light():
    """``import fastbp`` loads neither Numba, the kernels nor SciPy: they come on first use."""
    code = "import sys, fastbp; print(sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'scipy'}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_hypothesis_draws_the_same_examples_every_run():
    """Under the suite's default profile (tests/conftest.py), two runs of a
    property draw the same examples: CI's examples are the same every run
    (checked by drawing, whichever profile this run was started with)."""
    from hypothesis import given, settings, strategies

    runs = []
    for _ in range(2):
        drawn = []

        @settings(settings.get_profile("derandomized"), max_examples=20, database=None)
        @given(strategies.lists(strategies.floats(allow_nan=False), max_size=5))
        def prop(xs):
            drawn.append(xs)

        prop()
        runs.append(drawn)
    assert runs[0] == runs[1] and len(runs[0]) > 1


def test_the_tables_of_top_level_kernels_agree():
    """The compile estimates, the warm-up's list and the signature table name
    the same top-level kernels (an extension adds one to all three), each a
    compiled function of ``fastbp.kernels``; an unknown name is an error,
    not a silent default."""
    import numba.core.registry
    import pytest

    from fastbp import _tiers, _warmup, kernels
    from fastbp.kernels import _signatures

    assert set(_tiers.COMPILE_SECONDS) == set(_warmup.KERNELS) == set(_signatures.ARGUMENTS)
    for name in _warmup.KERNELS:
        assert isinstance(getattr(kernels, name), numba.core.registry.CPUDispatcher), name
    with pytest.raises(KeyError):
        _tiers.compile_seconds(["no_such_kernel"])


def test_every_optimizers_state_fits_the_copies_the_epoch_unpacks():
    """``_update_layers`` unpacks a fixed number of state copies (``S[0]``,
    ``S[min(1, ...)]``, ...): every optimizer's ``state_copies`` and its twin's
    state arguments must fit them."""
    import inspect
    import re

    from fastbp.kernels import update

    source = inspect.getsource(update._update_layers.py_func)
    unpacked = 1 + max(int(k) for k in re.findall(r"S\[min\((\d+), len\(S\) - 1\)\]", source))
    for spec in optimizers.RECORDS:
        assert 1 <= spec.state_copies <= unpacked, spec.__name__
        params = list(inspect.signature(spec.twin).parameters)
        assert len(params) - 4 - 1 - len(spec.params) - 2 == 2 * spec.state_copies, spec.__name__


def _import_drawing() -> dict:
    """``fastbp``'s modules and the modules of fastbp each imports (at the top
    or inside a function), read from the source."""
    import ast
    import os

    root = os.path.dirname(fastbp.__file__)
    modules = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                name = os.path.relpath(os.path.join(folder, f), os.path.dirname(root))[:-3].replace(os.sep, ".")
                modules[name.removesuffix(".__init__")] = os.path.join(folder, f)
    drawing = {}
    for name, path in modules.items():
        package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                subs = {f"{target}.{a.name}" for a in node.names} & set(modules)
                edges |= subs if node.module is None and subs else {target} | subs
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
        drawing[name] = (edges & set(modules)) - {name}
    return drawing


def test_the_import_drawing_has_no_circle_but_the_kernels_overloads():
    """No module of fastbp imports, through others, a module that imports it:
    the one exception is the kernels' ``@overload`` idiom (``_input`` chooses
    dense or sparse code from the functions of ``forward``, ``backward`` and
    ``sparse``, which call its overloads)."""
    drawing = _import_drawing()
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in drawing[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for v in sorted(drawing):
        if v not in index:
            visit(v)
    overloads = ["fastbp.kernels._input", "fastbp.kernels.backward", "fastbp.kernels.forward", "fastbp.kernels.sparse"]
    assert circles == [overloads], circles
