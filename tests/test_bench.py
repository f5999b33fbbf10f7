"""The benchmark package: one parser for ``fastbp bench`` and ``python -m
fastbp.bench``, and the side-by-side run end to end on the cheapest peer."""
import argparse
import io
import subprocess
import sys

import pytest

from fastbp.bench import options, side_by_side
from fastbp.cli import build_parser


def _flags(parser: argparse.ArgumentParser) -> dict:
    return {a.option_strings[0]: (a.default, tuple(a.choices or ())) for a in parser._actions
            if a.option_strings and a.help is not argparse.SUPPRESS and a.option_strings[0] != "-h"}


def test_the_command_and_the_module_share_one_parser():
    command = build_parser()._subparsers._group_actions[0].choices["bench"]
    module = argparse.ArgumentParser()
    options.add_arguments(module, internal=True)
    assert _flags(command) == _flags(module)
    assert {"--worker", "--rate"} <= {a.option_strings[0] for a in module._actions if a.option_strings}
    assert "--worker" not in {a.option_strings[0] for a in command._actions if a.option_strings}


@pytest.mark.parametrize("argv, message", [
    (["--rounds", "0"], "--rounds must be a positive integer"),
    (["--settle", "-1"], "--settle takes seconds"),
    (["--busy", "-2"], "--busy takes a count"),
])
def test_python_m_fastbp_bench_checks_as_the_command_does(argv, message):
    done = subprocess.run([sys.executable, "-m", "fastbp.bench", *argv], capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr
    done = subprocess.run([sys.executable, "-m", "fastbp", "bench", *argv], capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr


def test_a_side_by_side_run_reports_the_activation_it_ran(capsys):
    out = io.StringIO()
    times = side_by_side.compare("S", ["reference", "sklearn"], 1, settle=0.0, out=out, activation="gelu")
    assert list(times) == ["reference"] and times["reference"][0] > 0
    assert "sklearn skipped: scikit-learn's MLP has no gelu activation" in out.getvalue()
    side_by_side.report("S", times, "float32", 2, out=out, activation="gelu")
    assert "float32, gelu hidden, 2 threads" in out.getvalue() and "reference" in out.getvalue()
