"""The shared package ``tutorial_support``: the prices agree with chapter 01's check, the handler is imported from its
task root as Lambda does, the README writer, percentiles; and no file of the repository edits ``sys.path``."""

import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from grading.checks import chapter01
from tutorial_support import prices, timing
from tutorial_support.paths import HANDLER_DIR
from tutorial_support.readme import update_readme


def test_the_price_formula_is_a_right_answer_to_chapter_01s_exercise(capsys):
    # Chapter 01's check computes its expected bills by hand from the pricing page: the package's copy must pass it.
    chapter01.check_lambda_monthly_cost(prices.lambda_cost)
    assert "lambda_monthly_cost: correct" in capsys.readouterr().out


def test_the_price_formula_bills_whole_milliseconds_and_the_free_tier_never_below_zero():
    assert prices.lambda_cost(1000, 100.2, 512) == pytest.approx(
        1000 * 0.101 * 0.5 * prices.PRICE_PER_GB_SECOND["x86_64"] + 1000 / 1e6 * prices.PRICE_PER_MILLION_REQUESTS)
    assert prices.lambda_cost(10, 100, 128, free_tier=True) == 0.0
    with pytest.raises(KeyError):
        prices.lambda_cost(1, 1, 128, "sparc")


HANDLER_IMPORT = """
import json, sys
from tutorial_support.lambda_runtime import handler_module, load_handler
handler = load_handler(sys.argv[1])
module = handler_module(sys.argv[1])
print(json.dumps([handler.__module__, module.__file__, sys.path.index(sys.argv[1]), handler is module.lambda_handler]))
try:
    handler_module(sys.argv[2])
except RuntimeError as e:
    print(e)
"""


def test_the_handler_is_imported_from_its_task_root_first_and_one_task_root_per_process(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "lambda_function.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    run = subprocess.run([sys.executable, "-c", HANDLER_IMPORT, str(HANDLER_DIR), str(other)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.strip().splitlines()
    assert first == f'["lambda_function", "{HANDLER_DIR / "lambda_function.py"}", 0, true]'
    assert "already imported from" in second and "one task root per process" in second


def test_update_readme_replaces_only_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- t:begin -->\nold\n<!-- t:end -->\nbottom\n")
    assert update_readme("new\n", readme, marker="t")
    assert readme.read_text() == "top\n<!-- t:begin -->\nnew\n<!-- t:end -->\nbottom\n"
    assert not update_readme("x\n", readme, marker="absent")
    assert "x" not in readme.read_text()


def test_percentile_interpolates_between_closest_ranks():
    assert timing.percentile([1, 2, 3, 4], 50) == 2.5
    assert timing.percentile([10, 20], 95) == pytest.approx(19.5)
    with pytest.raises(ValueError):
        timing.percentile([], 50)
    assert timing.spread([3, 1, 2]) == {"median": 2, "min": 1, "max": 3}


# What may set sys.path or load a module from a file: the grading sandbox loading a student's chapter files, and the
# task-root runner building Lambda's own sys.path (in this process, or in the Python 3.13 process it starts).
ALLOWED = {"grading/student_runner.py", "tutorial_support/lambda_runtime.py", "tests/test_tutorial_support.py"}
PATH_EDIT = re.compile(r"sys\.path(\.insert|\.append|\[|\s*\+=|\s*=)|spec_from_file_location|run_path|SourceFileLoader")


def test_no_file_edits_sys_path_but_the_grader_and_the_task_root_runner():
    files = subprocess.run(["git", "ls-files", "*.py", "*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    offenders = [f"{name}:{number}" for name in files if name not in ALLOWED
                 for number, line in enumerate((REPO_ROOT / name).read_text().splitlines(), 1)
                 if PATH_EDIT.search(line)]
    assert offenders == []
    assert len(files) > 50


def test_no_notebook_or_script_runs_another_notebooks_cells():
    files = subprocess.run(["git", "ls-files", "solutions", "benchmarks", "tutorial_support"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    assert [name for name in files if ".notebook(" in (REPO_ROOT / name).read_text(errors="replace")] == []
