"""The grading machinery: the starter generator, the three outcomes, the targets, and make check / make grade."""

import json
import subprocess
import sys
import textwrap

import nbformat
import pytest
from conftest import REPO_ROOT, SOLUTIONS

from grading import checks, grade, hints, outcomes, starters
from grading.targets import Target, TargetError

SOLUTION_SOURCE = textwrap.dedent("""\
    def area(width, height):
        \"\"\"Area of a rectangle.\"\"\"
        # BEGIN SOLUTION
        # HINT: multiply the two sides
        # HINT: (in the same units).
        return width * height
        # END SOLUTION


    def perimeter(width, height):
        # BEGIN SOLUTION
        return 2 * (width + height)
        # END SOLUTION
    """)


def test_stub_regions_replaces_each_region_by_a_stub_with_its_hint():
    stubbed = starters.stub_regions(SOLUTION_SOURCE)
    assert "width * height" not in stubbed and "2 * (width + height)" not in stubbed
    assert "BEGIN SOLUTION" not in stubbed and "END SOLUTION" not in stubbed
    assert "    raise NotImplementedError('multiply the two sides (in the same units).')\n" in stubbed
    assert f"    raise NotImplementedError({starters.DEFAULT_HINT!r})\n" in stubbed
    namespace = {}
    exec(stubbed, namespace)
    with pytest.raises(NotImplementedError, match="multiply the two sides"):
        namespace["area"](2, 3)
    assert '"""Area of a rectangle."""' in stubbed  # code outside the regions is kept


@pytest.mark.parametrize("source, problem", [
    ("# BEGIN SOLUTION\nx = 1\n", "without # END"),
    ("x = 1\n# END SOLUTION\n", "without # BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "nested"),
])
def test_unbalanced_markers_are_refused(source, problem):
    with pytest.raises(starters.MarkerError, match=problem):
        starters.stub_regions(source, "example.py")


def test_rendered_notebook_has_stubs_and_no_outputs():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Chapter 99: example"),
        nbformat.v4.new_code_cell(SOLUTION_SOURCE, execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="6\n")]),
    ])
    rendered = nbformat.reads(starters.render_notebook(nbformat.writes(nb), "example.ipynb"), as_version=4)
    code = rendered.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert "NotImplementedError" in code.source and "width * height" not in code.source
    assert rendered.cells[0].source == "# Chapter 99: example"


def test_render_stubs_marked_files_and_leaves_unmarked_files_in_solutions():
    files = starters.render()
    handler = files["03_lambda_code/lambda_function.py"]
    # softmax, _classify and predict (one exercise), parse_proxy_body, lambda_handler
    assert handler.count("raise NotImplementedError(") == 5
    assert "# BEGIN SOLUTION" not in handler
    for unmarked in ("01_intro/train.py", "03_lambda_code/demo.py", "03_lambda_code/events/direct.json"):
        assert unmarked not in files
    # Copied as they are: what the exercise script imports (safe_download), what the notebook imports (deploy_cli),
    # and what those import in turn (destroy.py, imported by deploy_cli.py only).
    for copied in ("03_lambda_code/safe_download.py", "05_deploy/deploy_cli.py", "05_deploy/destroy.py"):
        assert files[copied] == (SOLUTIONS / copied).read_text(), copied
    readme = files["03_lambda_code/README.md"]
    assert "solutions/03_lambda_code/events/" in readme and "solutions/03_lambda_code/demo.py" in readme
    for name, text in files.items():
        if name.endswith(".ipynb"):
            nb = nbformat.reads(text, as_version=4)
            assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), name


def test_stale_files_finds_changed_missing_and_extra_files(tmp_path):
    files = starters.render()
    starters.write(files, tmp_path)
    assert starters.stale_files(files, tmp_path) == []
    (tmp_path / "03_lambda_code" / "lambda_function.py").write_text("changed\n")
    (tmp_path / "02_tflite" / "convert.py").unlink()
    (tmp_path / "01_intro" / "scratch.py").write_text("x = 1\n")
    assert starters.stale_files(files, tmp_path) == ["01_intro/scratch.py (not generated from solutions/)",
                                                     "02_tflite/convert.py", "03_lambda_code/lambda_function.py"]
    assert starters.main(["--check", "--output", str(tmp_path)]) == 1


def test_outcome_of_each_exception():
    assert outcomes.outcome(None) == outcomes.CORRECT
    assert outcomes.outcome(NotImplementedError("stub")) == outcomes.NOT_ATTEMPTED
    assert outcomes.outcome(AssertionError("wrong")) == outcomes.INCORRECT
    assert outcomes.outcome(ZeroDivisionError()) == outcomes.ERROR


def test_exercise_wrapper_names_the_outcome(capsys):
    @outcomes.exercise("99_example", "double")
    def check_double(fn):
        assert fn(2) == 4, "double(2) should be 4"

    def stub(x):
        raise NotImplementedError("return twice x")

    with pytest.raises(outcomes.NotAttempted, match="double: not attempted yet. return twice x"):
        check_double(stub)
    with pytest.raises(outcomes.Incorrect, match=r"double: incorrect. double\(2\) should be 4"):
        check_double(lambda x: x + 1)
    with pytest.raises(TypeError):  # the student's code crashed: passed through as it is
        check_double(lambda x: x + "1")
    check_double(lambda x: 2 * x)
    assert capsys.readouterr().out == "double: correct\n"
    assert (check_double.chapter, check_double.name) == ("99_example", "double")


def test_every_graded_chapter_has_its_test_file_and_notebook_or_script():
    for chapter, found in checks.exercises().items():
        assert (REPO_ROOT / "tests" / "graded" / f"test_{chapter}.py").is_file(), chapter
        assert (SOLUTIONS / chapter).is_dir()
        assert found, chapter


def test_target_refuses_unknown_kinds_and_notebooks_without_exercise_cells(tmp_path):
    with pytest.raises(ValueError, match="unknown target"):
        Target("teacher", tmp_path)
    (tmp_path / "99_example").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                   tmp_path / "99_example" / "n.ipynb")
    target = Target("student", tmp_path)
    with pytest.raises(TargetError, match="no code cell tagged 'exercise'"):
        target.notebook("99_example", "n.ipynb")
    with pytest.raises(TargetError, match="does not exist"):
        target.module("99_example", "missing.py")


def _submission(tmp_path, replacements: dict[str, str]):
    """A checkout whose chapter 03 handler is the reference with some regions changed."""
    (tmp_path / "models").symlink_to(REPO_ROOT / "models", target_is_directory=True)
    (tmp_path / "03_lambda_code").mkdir()
    text = (SOLUTIONS / "03_lambda_code" / "lambda_function.py").read_text()
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "03_lambda_code" / "lambda_function.py").write_text(text)
    for module in ("safe_download.py", "safe_image.py"):  # what the handler imports, as starters copy
        (tmp_path / "03_lambda_code" / module).write_text((SOLUTIONS / "03_lambda_code" / module).read_text())
    return tmp_path


@pytest.mark.slow
def test_grade_reports_each_outcome_of_a_submission(tmp_path):
    submission = _submission(tmp_path, {
        "    z = logits.astype(np.float64) - logits.max()\n": "    z = logits.astype(np.float64)\n",  # overflows
        "    x = preprocessor.convert_to_tensor(image)": "    x = 1 / 0",  # crashes
        "    body = event.get(\"body\")\n": "    raise NotImplementedError('decode the body')\n",  # left as a stub
    })
    report = grade.grade(submission, "03", timeout_s=300)
    chapter = report["chapters"]["03_lambda_code"]
    statuses = {e["exercise"]: e["status"] for e in chapter["exercises"]}
    assert statuses == {"softmax": "incorrect", "predict": "error", "parse_proxy_body": "not attempted",
                        "lambda_handler": "incorrect"}
    messages = {e["exercise"]: e["message"] for e in chapter["exercises"]}
    assert "subtract the largest logit" in messages["softmax"]
    assert "ZeroDivisionError" in messages["predict"]
    assert "decode the body" in messages["parse_proxy_body"]
    assert (report["score"], report["max"]) == (0, 4)
    table = grade.format_table(report)
    assert "not attempted" in table and "0/4" in table
    assert not list(submission.rglob("__pycache__")), "grading must not write into the submission"


def test_unknown_chapter_is_a_clear_error():
    with pytest.raises(ValueError, match="no graded chapter matches '09'"):
        grade.chapters("09")
    assert grade.chapters("2") == ["02_tflite"]


@pytest.mark.slow
def test_a_student_who_fills_every_stub_runs_every_notebook_and_passes_the_graded_tests(tmp_path):
    """The chapter folders work from where students use them: a checkout whose stubs are all filled in (with the
    reference code) runs each chapter notebook top to bottom in its chapter folder, and every graded test passes."""
    files = starters.render(solved=True)
    starters.write(files, tmp_path)
    chapters = {name.split("/")[0] for name in files}
    for shared in REPO_ROOT.iterdir():  # the rest of a checkout, as it is
        if shared.name not in chapters and (not shared.name.startswith(".") or shared.name == ".dockerignore"):
            (tmp_path / shared.name).symlink_to(shared, target_is_directory=shared.is_dir())
    notebooks = sorted(str(p) for p in tmp_path.glob("[0-9][0-9]_*/*.ipynb"))
    assert len(notebooks) >= 3
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(REPO_ROOT),
         "-c", str(REPO_ROOT / "pyproject.toml"), "--target", "student", "--submission", str(tmp_path),
         "--grading-report", str(tmp_path / "report.json"), "--nbval-lax", "--nbval-current-env",
         str(REPO_ROOT / "tests" / "graded"), *notebooks],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    results = json.loads((tmp_path / "report.json").read_text())["results"]
    assert sorted((r["chapter"], r["exercise"]) for r in results if r["status"] == "correct") == sorted(
        (chapter, check.name) for chapter, found in checks.exercises().items() for check in found)


def test_each_solution_notebook_checks_every_exercise_of_its_chapter_in_order():
    for chapter, found in checks.exercises().items():
        nb = nbformat.read(SOLUTIONS / chapter / f"{chapter}.ipynb", as_version=4)
        called = [line.split("(")[0].removeprefix("checks.check_") for cell in nb.cells if cell.cell_type == "code"
                  for line in cell.source.splitlines() if line.startswith("checks.check_")]
        assert called == [check.name for check in found], chapter


TASK_AND_HINT = textwrap.dedent("""\
    def area(width, height):
        # BEGIN SOLUTION
        # TASK: return the rectangle's area.
        # HINT: multiply width by height,
        # HINT: in the same units.
        return width * height
        # END SOLUTION
    """)


def test_a_stub_says_what_is_asked_and_keeps_the_hint_for_after_an_incorrect_answer(monkeypatch, tmp_path):
    stubbed = starters.stub_regions(TASK_AND_HINT)
    assert "raise NotImplementedError(\"return the rectangle's area.\")" in stubbed
    assert "multiply" not in stubbed  # the how stays in solutions/
    assert starters.region_notes(starters.solution_regions(TASK_AND_HINT)[0][1]) == (
        "return the rectangle's area.", "multiply width by height, in the same units.")
    chapter = tmp_path / "99_example"
    chapter.mkdir()
    (chapter / "shapes.py").write_text(TASK_AND_HINT)
    monkeypatch.setattr(starters, "SOLUTIONS", tmp_path)
    hints.chapter_hints.cache_clear()
    try:
        assert hints.hint("99_example", "area") == "multiply width by height, in the same units."

        @outcomes.exercise("99_example", "area")
        def check_area(fn):
            assert fn(2, 3) == 6, "area(2, 3) should be 6"

        with pytest.raises(outcomes.Incorrect, match=r"(?s)area\(2, 3\) should be 6.* Hint: multiply width by height"):
            check_area(lambda w, h: w + h)
        with pytest.raises(outcomes.NotAttempted) as stub:
            check_area(lambda w, h: (_ for _ in ()).throw(NotImplementedError("return the rectangle's area.")))
        assert "multiply" not in str(stub.value)  # not before an attempt
    finally:
        hints.chapter_hints.cache_clear()


def test_every_exercise_has_a_task_and_a_hint():
    for chapter, found in checks.exercises().items():
        for check in found:
            assert hints.hint(chapter, check.name), f"{chapter} {check.name} has no # HINT: lines"
