"""The detailed hints of the exercises: the ``# HINT:`` lines of each solution region in ``solutions/``.

A stub says what is asked (its ``# TASK:`` lines); how to do it is shown after an incorrect answer (the checks append
it to their message) or on request (``hint(chapter, exercise)``; in a notebook, ``checks.hint("predict")``). The
hints are read from the reference solutions, which only the grader's own checkout holds.
"""

from __future__ import annotations

import ast
import functools

import nbformat

from grading import starters


def _function_of(source: str, line: int) -> str | None:
    """The name of the innermost function of ``source`` (Python) that holds line ``line``, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno:
            if found is None or node.lineno > found.lineno:
                found = node
    return found.name if found else None


@functools.lru_cache(maxsize=None)
def chapter_hints(chapter: str) -> dict[str | None, str]:
    """``{function name: hint}`` for every solution region of ``solutions/<chapter>``; the key is None for a region
    outside any function (a Dockerfile's), which stands for every exercise of the chapter."""
    out: dict[str | None, str] = {}
    folder = starters.SOLUTIONS / chapter
    sources: list[tuple[str, bool]] = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            sources += [(cell.source, True) for cell in nb.cells if cell.cell_type == "code"]
        elif path.suffix == ".py" or path.name == "Dockerfile":
            sources.append((path.read_text(encoding="utf-8"), path.suffix == ".py"))
    for source, python in sources:
        if not starters.has_markers(source):
            continue
        for start, region in starters.solution_regions(source):
            _, hint = starters.region_notes(region)
            if hint:
                out[_function_of(source, start) if python else None] = hint
    return out


def hint(chapter: str, exercise: str) -> str | None:
    """The detailed hint of ``exercise`` (a function name, or the Dockerfile's exercises) in ``chapter``, or None."""
    hints = chapter_hints(chapter)
    return hints.get(exercise, hints.get(None))
