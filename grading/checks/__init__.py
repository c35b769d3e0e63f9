"""The checks of every exercise, one module per chapter (as Kaggle's learntools has one per exercise set): used by
the notebooks' check cells (``from grading.checks import chapter03 as checks``) and by the graded tests.

Each check takes the student's function (or module) and raises ``NotAttempted`` (the stub is still there),
``Incorrect`` (a wrong answer; the message says what was expected) or prints ``<name>: correct``. What the checks of
several chapters share (the model, the photos, their oracles) is in ``common``.
"""

from __future__ import annotations

from grading.checks import (
    chapter01,
    chapter02,
    chapter03,
    chapter04,
    chapter05,
    chapter06,
    chapter07,
    chapter08,
    chapter08_tabular,
)

# Chapter 08's tabular exercises have a module of their own (chapter08 re-exports them for the notebook and the tests).
CHAPTER_MODULES = (chapter01, chapter02, chapter03, chapter04, chapter05, chapter06, chapter07, chapter08,
                   chapter08_tabular)


def exercises() -> dict[str, list]:
    """Every check, by chapter, in the order the notebooks ask them: ``{chapter: [check, ...]}``; each check carries
    ``chapter`` and ``name`` (``grading.outcomes.exercise``)."""
    found: dict[str, list] = {}
    for module in CHAPTER_MODULES:
        for value in vars(module).values():
            if callable(value) and hasattr(value, "chapter") and hasattr(value, "__wrapped__") \
                    and value.__module__ == module.__name__:
                found.setdefault(value.chapter, []).append(value)
    return found
