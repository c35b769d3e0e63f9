"""Where the graded tests find the code they grade: a student's chapter folders, the reference, or the starters.

- ``student`` (the default): the chapter folders (``01_intro/``, ...) of a checkout (this one, or a submission);
- ``solutions``: ``solutions/<chapter>/`` of this repository, which must pass every graded test;
- ``starters``: the chapter folders freshly generated from ``solutions/`` (``grading.starters``), which must fail
  every graded test for the right reason.

The code of every target runs in the grading sandbox (``grading.sandbox``): each ``module()`` or ``notebook()`` starts
a process of its own for the student's code, which the checks call into; ``close()`` stops them (the pytest plugin
does after each graded test). Script exercises are imported there from their file, their folder first on
``sys.path``. Notebook exercises are the code cells tagged ``exercise``, run in order in a fresh namespace: those
cells must be self-contained (their own imports), as the notebooks say.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grading import starters
from grading.sandbox import DEFAULT_TIMEOUT_S, RemoteCode, StudentProcess

TARGETS = ("student", "solutions", "starters")
EXERCISE_TAG = "exercise"


class TargetError(RuntimeError):
    """The graded file is missing, or a notebook has no exercise cells."""


class Target:
    """The chapter folders of one target.

    Args:
        kind: one of ``TARGETS``.
        root: the checkout whose chapter folders are graded (``student``), or the folder to render the
            starters into (``starters``); ignored for ``solutions``.
        timeout_s: the most the student's code may take to load, or to answer one call of a check.
    """

    def __init__(self, kind: str, root: Path, timeout_s: float = DEFAULT_TIMEOUT_S):
        if kind not in TARGETS:
            raise ValueError(f"unknown target {kind!r}; expected one of {TARGETS}")
        self.kind, self.root, self.timeout_s = kind, Path(root).resolve(), timeout_s
        if kind == "solutions":
            self.base = starters.SOLUTIONS
        elif kind == "starters":
            starters.write(starters.render(), self.root)
            # The starters' scripts find models/ by walking up from their own folder, as in a checkout.
            link = self.root / "models"
            if not link.exists():
                link.symlink_to(starters.REPO_ROOT / "models", target_is_directory=True)
            self.base = self.root
        else:
            self.base = self.root
        self._processes: list[StudentProcess] = []

    def path(self, chapter: str, name: str) -> Path:
        """The file ``name`` of ``chapter`` in this target. Raises TargetError when it does not exist."""
        path = self.base / chapter / name
        if not path.is_file():
            raise TargetError(f"{path} does not exist")
        return path

    def _load(self, op: str, chapter: str, name: str) -> RemoteCode:
        path = self.path(chapter, name)
        process = StudentProcess(self.timeout_s)
        self._processes.append(process)
        return RemoteCode(process, op, path, f"graded_{self.kind}_{chapter}_{Path(name).stem}")

    def module(self, chapter: str, name: str) -> RemoteCode:
        """The script ``chapter/name`` (e.g. ``"03_lambda_code", "lambda_function.py"``), imported in a process of
        its own. Raises what importing it raised (NotImplementedError for a stub at module level)."""
        return self._load("load_module", chapter, name)

    def notebook(self, chapter: str, name: str) -> RemoteCode:
        """The code cells tagged ``exercise`` of notebook ``chapter/name``, run in a process of their own.

        Raises:
            TargetError: the notebook has no exercise cells.
        """
        nb = nbformat.read(self.path(chapter, name), as_version=4)
        if not any(cell.cell_type == "code" and EXERCISE_TAG in cell.metadata.get("tags", []) for cell in nb.cells):
            raise TargetError(f"{self.path(chapter, name)} has no code cell tagged {EXERCISE_TAG!r}")
        return self._load("load_notebook", chapter, name)

    def close(self) -> None:
        """Stop every process this target started for the student's code."""
        while self._processes:
            self._processes.pop().close()
