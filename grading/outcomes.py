"""The three outcomes of a check (as in Kaggle's learntools): correct, not attempted, incorrect.

A check is a function that raises ``AssertionError`` when the answer is wrong and lets the stub's
``NotImplementedError`` (whose message is the exercise's hint) through when the exercise has not been started.
``exercise`` turns those into ``NotAttempted`` / ``Incorrect`` naming the exercise, and prints a line when correct,
so a notebook's check cell and a pytest graded test tell the student the same thing.
"""

from __future__ import annotations

import functools

from grading.hints import hint

CORRECT, NOT_ATTEMPTED, INCORRECT, ERROR = "correct", "not attempted", "incorrect", "error"
NOT_GRADED = "not graded"  # the check cannot run on this machine (Python 3.13 missing): not counted in the maximum


class NotAttempted(NotImplementedError):
    """The exercise still raises its stub's ``NotImplementedError``."""


class Incorrect(AssertionError):
    """The exercise runs but gives a wrong answer; the message says what was expected."""


def outcome(exc: BaseException | None) -> str:
    """Classify how a check ended: ``None`` is correct, ``NotImplementedError`` not attempted,
    ``AssertionError`` incorrect, anything else an error (the code crashed)."""
    if exc is None:
        return CORRECT
    if isinstance(exc, NotImplementedError):
        return NOT_ATTEMPTED
    if isinstance(exc, AssertionError):
        return INCORRECT
    return ERROR


def exercise(chapter: str, name: str):
    """Decorator for a check function of exercise ``name`` in ``chapter``.

    The wrapped check raises ``NotAttempted`` (with the stub's own message: what is asked) or ``Incorrect`` (with the
    failed assertion's message, which says what was expected, and the exercise's detailed hint from
    ``grading.hints``), or prints ``"<name>: correct"`` and returns None.
    Other exceptions (the student's code crashed) pass through unchanged. The wrapper carries ``chapter`` and ``name``.
    """

    def decorate(check):
        @functools.wraps(check)
        def wrapper(*args, **kwargs):
            try:
                check(*args, **kwargs)
            except NotAttempted:
                raise
            except NotImplementedError as e:
                raise NotAttempted(f"{name}: not attempted yet. {e}") from None
            except Incorrect:
                raise
            except AssertionError as e:
                more = hint(chapter, name)
                raise Incorrect(f"{name}: incorrect. {e}" + (f" Hint: {more}" if more else "")) from None
            print(f"{name}: correct")

        wrapper.chapter, wrapper.name = chapter, name
        return wrapper

    return decorate
