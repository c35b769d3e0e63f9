"""Where the graded tests find the code they grade: a student's chapter folders, the reference, or the starters.

- ``student`` (the default): the chapter folders (``01_intro/``, ...) of a checkout (this one, or a submission);
- ``solutions``: ``solutions/<chapter>/`` of this repository, which must pass every graded test;
- ``starters``: the chapter folders freshly generated from ``solutions/`` (``grading.starters``), which must fail
  every graded test for the right reason.

Script exercises are imported from their file under a module name of their own (so a student's
``lambda_function`` never shadows the reference one). Notebook exercises are the code cells tagged ``exercise``,
run in order in a fresh namespace: those cells must be self-contained (their own imports), as the notebooks say.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import nbformat

from grading import starters

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
    """

    def __init__(self, kind: str, root: Path):
        if kind not in TARGETS:
            raise ValueError(f"unknown target {kind!r}; expected one of {TARGETS}")
        self.kind, self.root = kind, Path(root).resolve()
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
        self._cache: dict[Path, types.ModuleType | types.SimpleNamespace] = {}

    def path(self, chapter: str, name: str) -> Path:
        """The file ``name`` of ``chapter`` in this target. Raises TargetError when it does not exist."""
        path = self.base / chapter / name
        if not path.is_file():
            raise TargetError(f"{path} does not exist")
        return path

    def module(self, chapter: str, name: str) -> types.ModuleType:
        """Import the script ``chapter/name`` (e.g. ``"03_lambda_code", "lambda_function.py"``), once per target."""
        path = self.path(chapter, name)
        if path not in self._cache:
            module_name = f"graded_{self.kind}_{chapter}_{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # dataclasses and pickling look a class's module up there
            sys.path.insert(0, str(path.parent))
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
            finally:
                sys.path.remove(str(path.parent))
            self._cache[path] = module
        return self._cache[path]

    def notebook(self, chapter: str, name: str) -> types.SimpleNamespace:
        """Run the code cells tagged ``exercise`` of notebook ``chapter/name``; return their namespace."""
        path = self.path(chapter, name)
        if path not in self._cache:
            nb = nbformat.read(path, as_version=4)
            cells = [cell for cell in nb.cells
                     if cell.cell_type == "code" and EXERCISE_TAG in cell.metadata.get("tags", [])]
            if not cells:
                raise TargetError(f"{path} has no code cell tagged {EXERCISE_TAG!r}")
            namespace: dict = {"__name__": f"graded_{self.kind}_{chapter}_notebook"}
            for index, cell in enumerate(cells):
                exec(compile(cell.source, f"{path.name} (exercise cell {index + 1})", "exec"), namespace)
            self._cache[path] = types.SimpleNamespace(**namespace)
        return self._cache[path]
