"""The package as users get it: the wheel's contents, and the front page's
commands and example run as written."""
import os
import re
import shlex
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_wheel_holds_the_license_py_typed_and_every_subpackage(tmp_path):
    pytest.importorskip("setuptools")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), ROOT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = [f for f in os.listdir(tmp_path) if f.endswith(".whl")]
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert "fastbp/py.typed" in names
    packages = [os.path.relpath(d, ROOT).replace(os.sep, "/") for d, _, files in os.walk(os.path.join(ROOT, "fastbp"))
                if "__init__.py" in files and "__pycache__" not in d]
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} is not in the wheel"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".nbi", ".nbc"))]
    with zipfile.ZipFile(tmp_path / wheel) as z:
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in meta and "Typing :: Typed" in meta


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_the_readme_is_a_front_page():
    assert len(_readme().encode()) <= 12 * 1024


def test_the_readmes_python_runs(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    blocks = re.findall(r"^```python\n(.*?)^```", _readme(), flags=re.S | re.M)
    assert blocks
    monkeypatch.chdir(tmp_path)  # the example saves a model file
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["net"].score(namespace["scale"].transform(namespace["X_test"]), namespace["y_test"]) > 0.9
    assert os.path.exists(tmp_path / "model.npz")


def test_the_readmes_commands_run(tmp_path):
    """Every ``fastbp`` line of the README's shell blocks, in order, in an
    empty folder: ``fastbp example`` writes the tables the next ones name;
    the install, test and documentation commands are what .ci/run runs."""
    lines = [line.split("#")[0].strip() for block in re.findall(r"^```bash\n(.*?)^```", _readme(), flags=re.S | re.M)
             for line in block.splitlines()]
    commands = [line for line in lines if line.startswith("fastbp")]
    assert len(commands) >= 4
    for command in commands:
        argv = shlex.split(command)
        proc = subprocess.run([sys.executable, "-m", "fastbp", *argv[1:], *(["--quiet"] if argv[1:2] == ["train"]
                                                                          else [])],
                              capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, f"{command}: {proc.stderr[-2000:]}"
