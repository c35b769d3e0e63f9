"""Mutation tests of the checks: submissions made from the reference solution with one plausible mistake each.

``submission(chapter, edits)`` writes the chapter folders of a checkout whose stubs are all filled in with the
reference code, applies ``edits`` to one chapter, and returns the ``Target`` that grades it, as ``make grade`` does.
Every other folder of the checkout (models, samples, requirements, ...) is linked in as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grading import starters
from grading.targets import Target
from tutorial_support.paths import REPO_ROOT


class EditError(AssertionError):
    """An edit of a mutation test does not apply: the reference changed under it."""


def apply_edits(text: str, edits: list[tuple[str, str]], where: str) -> str:
    """``text`` with each ``(old, new)`` of ``edits`` replaced, in order; each ``old`` must occur exactly once."""
    for old, new in edits:
        if text.count(old) != 1:
            raise EditError(f"{where}: {old!r} occurs {text.count(old)} times, not once")
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="session")
def solved_files():
    """Every generated chapter file, its stubs filled in by the reference code (``starters.render(solved=True)``)."""
    return starters.render(solved=True)


@pytest.fixture
def submission(tmp_path, solved_files):
    """``submission(chapter, {file: [(old, new), ...]}, kind="student")`` -> a ``Target`` over a fresh checkout whose
    ``chapter/file`` has the edits applied (a notebook's edits apply to its JSON text, so write them as they appear in
    the cell sources, with quotes escaped as JSON escapes them)."""
    made = []

    def make(chapter: str, edits: dict[str, list[tuple[str, str]]]) -> Target:
        root = tmp_path / f"submission{len(made)}"
        for name, text in solved_files.items():
            if name.startswith(chapter + "/"):
                relative = name.split("/", 1)[1]
                if relative in edits:
                    text = apply_edits(text, edits[relative], name)
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        missing = set(edits) - {name.split("/", 1)[1] for name in solved_files if name.startswith(chapter + "/")}
        if missing:
            raise EditError(f"{chapter} has no generated file {sorted(missing)}")
        for shared in REPO_ROOT.iterdir():  # the rest of a checkout, as it is
            linked = not shared.name.startswith(".") or shared.name == ".dockerignore"
            if linked and not (root / shared.name).exists():
                (root / shared.name).symlink_to(shared, target_is_directory=shared.is_dir())
        made.append(root)
        return Target("student", root)

    return make


def dockerfile_of(target: Target) -> tuple[Path, Path]:
    """(the Dockerfile, the build context) of a submission's chapter 04."""
    return target.path("04_docker", "Dockerfile"), target.root
