"""Generate the students' chapter folders from ``solutions/``, the one place authors edit.

    python -m grading.starters           # (re)write 01_intro/, 02_tflite/, ... from solutions/
    python -m grading.starters --check   # exit 1, listing the files, when a chapter folder is out of date

Rules (the nbgrader / otter-grader convention for marking solutions):
- In scripts (``.py``) and notebook code cells, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` become a
  stub that raises ``NotImplementedError``. ``# TASK: ...`` lines right after ``# BEGIN SOLUTION`` give the stub's
  message (what is asked, not how); ``# HINT: ...`` lines (how) stay in ``solutions/``: a check shows them after an
  incorrect answer (``grading.hints``). The stub keeps the region's indentation.
- In a ``Dockerfile``, a region becomes its task as ``# TODO:`` comments: writing the instructions is the exercise.
- Notebooks are always rendered: solution regions stubbed, outputs and execution counts cleared.
- Scripts and data without markers are not copied: they stay in ``solutions/`` only (one copy), and the chapter's
  generated ``README.md`` says where they are. The exception: a module without markers that a chapter's exercise
  script or notebook imports, directly or through another such module (``03_lambda_code/safe_download.py``,
  ``05_deploy/deploy_cli.py``), is copied as it is, so the exercise and the notebook run (and a Dockerfile can copy
  it) from the chapter folder; ``--check`` keeps the copy in sync like every generated file.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

from tutorial_support.paths import REPO_ROOT, SOLUTIONS

BEGIN, END, TASK, HINT = "# BEGIN SOLUTION", "# END SOLUTION", "# TASK:", "# HINT:"
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
DEFAULT_HINT = "fill in this exercise"


class MarkerError(ValueError):
    """A ``# BEGIN SOLUTION`` without its ``# END SOLUTION`` (or the reverse, or nested)."""


def has_markers(text: str) -> bool:
    """True when ``text`` contains at least one ``# BEGIN SOLUTION`` line."""
    return any(line.strip() == BEGIN for line in text.splitlines())


def region_notes(region: list[str]) -> tuple[str, str]:
    """(task, hint) of a solution region: the ``# TASK:`` lines (what is asked) and the ``# HINT:`` lines (how), each
    joined into one sentence, from the comment lines that open the region. A region without ``# TASK:`` lines asks
    what its ``# HINT:`` lines say."""
    notes: dict[str, list[str]] = {TASK: [], HINT: []}
    for line in region:
        stripped = line.strip()
        kind = next((k for k in (TASK, HINT) if stripped.startswith(k)), None)
        if kind is None:
            break
        notes[kind].append(stripped[len(kind):].strip())
    task, hint = " ".join(notes[TASK]), " ".join(notes[HINT])
    return (task or hint or DEFAULT_HINT), hint


def solution_regions(text: str, where: str = "<text>") -> list[tuple[int, list[str]]]:
    """Every solution region of ``text``: (line number of its ``# BEGIN SOLUTION``, its lines).

    Raises:
        MarkerError: unbalanced or nested markers.
    """
    regions: list[tuple[int, list[str]]] = []
    region: list[str] | None = None
    start = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise MarkerError(f"{where}:{number}: nested {BEGIN}")
            region, start = [], number
        elif stripped == END:
            if region is None:
                raise MarkerError(f"{where}:{number}: {END} without {BEGIN}")
            regions.append((start, region))
            region = None
        elif region is not None:
            region.append(line)
    if region is not None:
        raise MarkerError(f"{where}: {BEGIN} without {END}")
    return regions


def stub_regions(text: str, where: str = "<text>", comments_only: bool = False) -> str:
    """Replace each solution region of ``text`` (Python source) by a stub that raises ``NotImplementedError``.

    Args:
        text: source code; regions are delimited by lines that are exactly ``# BEGIN SOLUTION`` and ``# END SOLUTION``
            once stripped.
        where: a name for error messages (file and cell).
        comments_only: for files that are not Python (a Dockerfile): the region becomes its task lines as
            ``# TODO:`` comments, and nothing else.

    Returns:
        the source with every region replaced by ``# TODO: <task>`` and ``raise NotImplementedError("<task>")``,
        indented as the ``# BEGIN SOLUTION`` line was. The ``# HINT:`` lines (how to do it) are left out: a check
        shows them after an incorrect answer, and ``hint(exercise)`` on request.

    Raises:
        MarkerError: unbalanced or nested markers.
    """
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    solution_regions(text, where)  # the markers balance
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == BEGIN:
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            task, _ = region_notes(region)
            if comments_only:
                kind = TASK if any(note.strip().startswith(TASK) for note in region) else HINT
                lines = [note.strip()[len(kind):].strip() for note in region if note.strip().startswith(kind)]
                out += [f"{indent}# {'TODO:' if i == 0 else '     '} {h}\n" for i, h in enumerate(lines or [task])]
            else:
                out.append(f"{indent}# TODO: {task}\n")
                out.append(f"{indent}raise NotImplementedError({task!r})\n")
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    return "".join(out)


def render_notebook(text: str, where: str, solved: bool = False) -> str:
    """The student version of a solution notebook (JSON text): regions stubbed (unless ``solved``), outputs and
    execution counts cleared."""
    nb = nbformat.reads(text, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if not solved:
                cell.source = stub_regions(cell.source, f"{where} cell {index}")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    return nbformat.writes(nb) + "\n"


def _imported_names(source: str) -> set[str]:
    """The top-level module names that the imports of ``source`` (Python; a notebook cell's ``%`` and ``!`` lines are
    skipped) name."""
    try:
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:  # a cell in another language (%%bash)
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def imported_modules(chapter: Path, scripts: list[str]) -> set[str]:
    """The files ``<module>.py`` in ``chapter`` that ``scripts`` (paths in it: ``.py`` files, or notebooks whose code
    cells are read) import, and those that these import in turn."""
    found: set[str] = set()
    pending = list(scripts)
    while pending:
        path = chapter / pending.pop()
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            sources = [cell.source for cell in nb.cells if cell.cell_type == "code"]
        else:
            sources = [path.read_text(encoding="utf-8")]
        for name in set().union(*map(_imported_names, sources)):
            if (chapter / f"{name}.py").is_file() and f"{name}.py" not in found:
                found.add(f"{name}.py")
                pending.append(f"{name}.py")
    return found


def chapter_readme(chapter: Path, rendered: list[str], kept: list[str], copied: list[str] = ()) -> str:
    """The generated README of a chapter folder: what to open, what to fill in, where the shared files are."""
    notebooks = [name for name in rendered if name.endswith(".ipynb")]
    title = chapter.name
    if notebooks:
        nb = nbformat.read(chapter / notebooks[0], as_version=4)
        heading = next((line for cell in nb.cells if cell.cell_type == "markdown"
                        for line in cell.source.splitlines() if line.startswith("# ")), None)
        title = heading[2:].strip() if heading else title
    source = f"solutions/{chapter.name}/"
    lines = [f"# {title}", "",
             f"Generated by `make starters` from [`{source}`](../{source}): do not edit this README.", "",
             "Work through the notebook and replace each stub with your code: `raise NotImplementedError(...)`,",
             "or the `# TODO:` comments of a Dockerfile. Files to fill in:", ""]
    lines += [f"- `{name}`" for name in rendered]
    if copied:
        lines += ["", "Copied from `solutions/` as they are, because your code or the notebook imports them "
                  "(nothing to fill in):", ""]
        lines += [f"- `{name}`" for name in copied]
    lines += ["", f"Check your work with `make check CHAPTER={chapter.name[:2]}`: each exercise is correct,",
              f"not attempted or incorrect (with a hint). The reference solution is in [`{source}`](../{source})."]
    lines += ["", "What every chapter shares and no chapter teaches (paths, prices, the local image server, API",
              "Gateway events, the Lambda runtime emulator, the moto account, ...) is the package",
              "[`tutorial_support/`](../tutorial_support/), which `make lab` installs; this chapter's checks are",
              f"[`grading/checks/chapter{chapter.name[:2]}.py`](../grading/checks/chapter{chapter.name[:2]}.py)."]
    if kept:
        lines += ["", "Used from `solutions/` as they are (nothing to fill in, so not copied here):", ""]
        lines += [f"- [`solutions/{chapter.name}/{name}`](../solutions/{chapter.name}/{name})" for name in kept]
    return "\n".join(lines) + "\n"


def render(solutions: Path = SOLUTIONS, solved: bool = False) -> dict[str, str]:
    """Render every chapter of ``solutions``.

    Args:
        solutions: the folder of solution chapters.
        solved: keep the solution regions (what a student who filled every stub would have): for testing that the
            chapter folders work from where they are.

    Returns:
        {path relative to the repository root (``"01_intro/01_intro.ipynb"``): file text} for every generated file.

    Raises:
        MarkerError: a file with unbalanced markers.
    """
    files: dict[str, str] = {}
    for chapter in sorted(p for p in solutions.iterdir() if p.is_dir() and re.match(r"\d\d_", p.name)):
        rendered, kept, copied = [], [], []
        for path in sorted(p for p in chapter.rglob("*") if p.is_file() and not SKIP_PARTS & set(p.parts)):
            name = path.relative_to(chapter).as_posix()
            if path.suffix == ".ipynb":
                files[f"{chapter.name}/{name}"] = render_notebook(path.read_text(encoding="utf-8"), str(path), solved)
                rendered.append(name)
            elif (path.suffix == ".py" or path.name == "Dockerfile") and has_markers(
                    text := path.read_text(encoding="utf-8")):
                files[f"{chapter.name}/{name}"] = text if solved else stub_regions(
                    text, str(path), comments_only=path.name == "Dockerfile")
                rendered.append(name)
            else:
                kept.append(name)
        sources = [name for name in rendered if name.endswith((".py", ".ipynb"))]
        for name in sorted(imported_modules(chapter, sources) & set(kept)):
            files[f"{chapter.name}/{name}"] = (chapter / name).read_text(encoding="utf-8")
            kept.remove(name)
            copied.append(name)
        kept = sorted({name.split("/")[0] + ("/" if "/" in name else "") for name in kept})
        files[f"{chapter.name}/README.md"] = chapter_readme(chapter, rendered, kept, copied)
    return files


def stale_files(files: dict[str, str], root: Path = REPO_ROOT) -> list[str]:
    """Chapter files under ``root`` that differ from ``files``, are missing, or are not generated at all."""
    stale = [name for name, text in files.items()
             if not (root / name).is_file() or (root / name).read_text(encoding="utf-8") != text]
    for chapter in {name.split("/")[0] for name in files}:
        for path in (root / chapter).rglob("*"):
            name = path.relative_to(root).as_posix()
            if path.is_file() and not SKIP_PARTS & set(path.parts) and name not in files:
                stale.append(f"{name} (not generated from solutions/)")
    return sorted(stale)


def write(files: dict[str, str], root: Path) -> None:
    """Write ``files`` (as returned by ``render``) under ``root``."""
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when out of date")
    parser.add_argument("--output", type=Path, default=REPO_ROOT, help="where to write the chapter folders")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        stale = stale_files(files, args.output)
        if stale:
            print("Chapter folders are out of date with solutions/; run `python -m grading.starters`:", file=sys.stderr)
            print("\n".join(f"  {name}" for name in stale), file=sys.stderr)
            return 1
        print(f"{len(files)} generated chapter files match solutions/")
        return 0
    write(files, args.output)
    print(f"Wrote {len(files)} chapter files under {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
