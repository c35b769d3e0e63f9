"""The grading sandbox (``grading/sandbox.py``, ``grading/student_runner.py``): the student's code in a process of its
own, called from the grader's; values and exceptions come back as data; a hang or an exit costs only that process."""

import os
import textwrap

import numpy as np
import pytest

from grading.sandbox import ExerciseTimeout, Opaque, RemoteCode, SandboxError, StudentProcess, decode, encode

STUDENT = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    import numpy as np


    class RequestError(Exception):
        def __init__(self, status, code, message):
            super().__init__(message)
            self.status, self.code = status, code


    class BadAxis(ValueError, IndexError):
        pass


    def echo(*args, **kwargs):
        print("noise on stdout that must not break the answers")
        return [args, kwargs]

    def float32_probability():
        return {"p": np.float32(0.5), "a": np.arange(3, dtype=np.float32), "path": Path("/x"), "raw": b"\\x00"}

    def an_object():
        return object()

    def refuse():
        raise RequestError(422, "destination_refused", "not a public address")

    def bad_axis():
        raise BadAxis("axis 1 is out of bounds")

    def bad_utf8():
        return b"\\xff".decode()

    def stub():
        raise NotImplementedError("return the answer")

    def leave():
        sys.exit(0)

    def vanish():
        os._exit(3)

    def hang():
        while True:
            time.sleep(0.1)

    def environment():
        return {"home": os.environ.get("HOME"), "cwd": os.getcwd(), "private": os.environ.get("ALLOW_PRIVATE_URLS"),
                "aws": sorted(k for k in os.environ if k.startswith("AWS_") and "METADATA" not in k)}
''')


@pytest.fixture
def student(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "grader-secret")
    path = tmp_path / "student.py"
    path.write_text(STUDENT)
    process = StudentProcess(timeout_s=5)
    yield RemoteCode(process, "load_module", path, "graded_student_example"), process
    process.close()


def test_values_keep_their_types_and_prints_do_not_break_the_answers(student):
    code, _ = student
    assert code.echo(1, (2.5, "x"), key=[None, True]) == [(1, (2.5, "x")), {"key": [None, True]}]
    got = code.float32_probability()
    assert type(got["p"]) is np.float32 and got["a"].dtype == np.float32 and list(got["a"]) == [0, 1, 2]
    assert got["path"].as_posix() == "/x" and got["raw"] == b"\x00"
    assert isinstance(code.an_object(), Opaque)  # never unpickled or run: its type name and repr only


def test_exceptions_come_back_as_the_checks_catch_them(student):
    code, _ = student
    with pytest.raises(code.RequestError) as refused:
        code.refuse()
    assert (refused.value.status, refused.value.code, str(refused.value)) == (422, "destination_refused",
                                                                               "not a public address")
    with pytest.raises(ValueError, match="axis 1"):  # a class of its own, caught by its built-in base
        code.bad_axis()
    with pytest.raises(ValueError):  # UnicodeDecodeError cannot be rebuilt from a message: its base is kept
        code.bad_utf8()
    with pytest.raises(NotImplementedError, match="return the answer"):
        code.stub()


def test_exiting_or_hanging_ends_that_process_as_an_error_never_as_an_answer(student):
    code, process = student
    with pytest.raises(SandboxError, match="raised SystemExit"):
        code.leave()
    with pytest.raises(ExerciseTimeout, match="did not finish within 5 s"):
        code.hang()
    assert process.process.poll() is not None  # stopped
    with pytest.raises(SandboxError):
        code.echo()


def test_an_exit_is_reported_with_its_status(student):
    code, _ = student
    with pytest.raises(SandboxError, match=r"ended its process \(exit status 3\)"):
        code.vanish()


def test_the_code_runs_in_a_scratch_home_and_folder_without_credentials_and_gets_only_the_environment_it_is_given(
        student):
    code, process = student
    seen = code.environment()
    assert seen["home"].startswith(str(process.scratch)) and seen["cwd"].startswith(str(process.scratch))
    assert seen["aws"] == [] and "AWS_SECRET_ACCESS_KEY" in os.environ
    with code.student_environment({"ALLOW_PRIVATE_URLS": "1"}):
        assert code.environment()["private"] == "1"
    assert code.environment()["private"] is None


def test_the_encoding_refuses_what_it_cannot_carry_and_decodes_nothing_it_would_run():
    with pytest.raises(TypeError, match="cannot be sent"):
        encode(object())
    assert decode({"$opaque": "<function f>", "$type": "builtins.function"}).type_name == "builtins.function"
    assert decode({"__reduce__": "os.system"}) == {"__reduce__": "os.system"}  # a plain dict stays a dict
