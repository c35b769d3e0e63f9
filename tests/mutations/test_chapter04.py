"""Mutation tests of chapter 04 (the Dockerfile): plausible wrong Dockerfiles must be graded incorrect with a message
that names the mistake, and right ones written differently from the reference (the way AWS's own documentation
writes them, or with WORKDIR, ARG and ENV; file modes set with COPY --chmod, or one chmod -R) must be graded correct.

``dockerfile`` is read without building anything (fast). ``task_root`` builds the task root and runs it under Python
3.13 through awslambdaric (seconds each): its wrong answers are Dockerfiles that pass the static read but fail when
run, and the tests that run them share one pip install per distinct requirement set (the check's install cache) and
skip when Python 3.13 is not installed.
"""

import re

import pytest
from conftest import dockerfile_of

from grading.checks import chapter04 as checks
from grading.outcomes import Incorrect
from tutorial_support import lambda_runtime
from tutorial_support.paths import SOLUTIONS

CHAPTER, FILE = "04_docker", "Dockerfile"
_REFERENCE = (SOLUTIONS / CHAPTER / FILE).read_text()
REGION = _REFERENCE.split("# BEGIN SOLUTION\n", 1)[1].split("# END SOLUTION", 1)[0]  # the reference's instructions

FROM = next(line for line in REGION.splitlines(keepends=True) if line.startswith("FROM "))  # pinned by digest
PIP = ('RUN pip install --no-cache-dir --only-binary=:all: --require-hashes \\\n'
       '        --requirement /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}" \\\n'
       '    && rm /tmp/requirements.txt\n')
MODEL = "COPY models/clothing-model.tflite models/labels.txt ${LAMBDA_TASK_ROOT}/\n"
HANDLER = ("COPY solutions/03_lambda_code/lambda_function.py solutions/03_lambda_code/safe_download.py \\\n"
           "     solutions/03_lambda_code/safe_image.py ${LAMBDA_TASK_ROOT}/\n")
CMD = 'CMD ["lambda_function.lambda_handler"]\n'
MODEL_MODES = 'RUN chmod 0644 "${LAMBDA_TASK_ROOT}/clothing-model.tflite" "${LAMBDA_TASK_ROOT}/labels.txt"\n'
HANDLER_MODES = ('RUN chmod 0644 "${LAMBDA_TASK_ROOT}/lambda_function.py" "${LAMBDA_TASK_ROOT}/safe_download.py" \\\n'
                 '               "${LAMBDA_TASK_ROOT}/safe_image.py"\n')
PLAIN_COPY = [(MODEL_MODES, ""), (HANDLER_MODES, "")]  # the files keep the modes of the checkout


def graded(submission, edits):
    """(Dockerfile, build context) of the reference Dockerfile with ``edits`` applied."""
    return dockerfile_of(submission(CHAPTER, {FILE: edits}))


def whole(text: str) -> list[tuple[str, str]]:
    """Edits that replace every instruction of the reference by ``text``."""
    return [(REGION, text)]


def test_the_reference_edits_still_apply():
    for line in (FROM, PIP, MODEL, HANDLER, CMD, MODEL_MODES, HANDLER_MODES):
        assert REGION.count(line) == 1, line
    assert FROM.startswith("FROM public.ecr.aws/lambda/python:3.13@sha256:")


# --- dockerfile: read without building ---------------------------------------------------------------------------

WRONG_DOCKERFILES = {
    "slim_python_base_image": (
        [(FROM, "FROM python:3.13-slim\n")], "has the runtime interface client"),
    "lambda_base_image_python_3_11": (
        [(FROM, "FROM public.ecr.aws/lambda/python:3.11\n")], "glibc 2.26 is too old for LiteRT"),
    "pip_cache_kept_in_the_layer": (
        [(PIP, PIP.replace("--no-cache-dir ", ""))], "add --no-cache-dir"),
    "unpinned_packages_by_name": (
        [(PIP, 'RUN pip install --no-cache-dir ai-edge-litert pillow keras-image-helper numpy '
               '--target "${LAMBDA_TASK_ROOT}"\n')],
        "pip install ai-edge-litert pillow keras-image-helper numpy installs packages by name"),
    "safe_download_not_copied": (
        [(HANDLER, HANDLER.replace(" solutions/03_lambda_code/safe_download.py", ""))],
        "lambda_function.py imports safe_download.py, which is not in the task root"),
    "safe_image_not_copied": (  # imported by safe_download.py, not by the handler itself
        [(HANDLER, HANDLER.replace(" \\\n     solutions/03_lambda_code/safe_image.py", ""))],
        "lambda_function.py imports safe_image.py, which is not in the task root"),
    "model_copied_to_app": (
        [(MODEL, "COPY models/clothing-model.tflite models/labels.txt /app/\n")],
        "clothing-model.tflite is copied to /app/clothing-model.tflite, but the handler looks for it at "
        "/var/task/clothing-model.tflite"),
    "labels_not_copied": (
        [(MODEL, MODEL.replace(" models/labels.txt", ""))], "labels.txt is not in the image"),
    "cmd_in_shell_form": (
        [(CMD, "CMD lambda_function.lambda_handler\n")],
        "CMD lambda_function.lambda_handler is in shell form"),
    "cmd_names_the_py_file": (
        [(CMD, 'CMD ["lambda_function.py"]\n')], 'CMD ["lambda_function.py"] names a file'),
    "cmd_with_single_quotes": (
        [(CMD, "CMD ['lambda_function.lambda_handler']\n")], "is not a JSON array"),
    "cmd_runs_python_on_the_script": (
        [(CMD, 'CMD ["python", "lambda_function.py"]\n')], "is a command line"),
    "entrypoint_set": (
        [(CMD, 'ENTRYPOINT ["python3", "-m", "awslambdaric"]\n' + CMD)],
        "do not set ENTRYPOINT; the base image's own (/lambda-entrypoint.sh) starts the runtime client"),
    "private_urls_allowed_in_the_image": (
        [(CMD, "ENV ALLOW_PRIVATE_URLS=1\n" + CMD)], "the deployed function would fetch private addresses"),
    "model_path_of_the_repository_layout": (
        [(CMD, "ENV MODEL_PATH=models/clothing-model.tflite\n" + CMD)],
        "ENV MODEL_PATH=models/clothing-model.tflite: the handler would load the model from "
        "/var/task/models/clothing-model.tflite (a relative path, read from the working directory /var/task)"),
    "packages_into_a_folder_not_on_sys_path": (
        [(PIP, PIP.replace('--target "${LAMBDA_TASK_ROOT}"', '--target "${LAMBDA_TASK_ROOT}/packages"'))],
        "the packages would go to /var/task/packages, where Lambda's Python does not look"),
    "requirements_read_from_where_they_were_not_copied": (
        [(PIP, PIP.replace("--requirement /tmp/requirements.txt", "--requirement requirements.txt"))],
        "pip install --requirement /var/task/requirements.txt: the image has no such file at this step"),
    "requirements_installed_before_they_are_copied": (
        [("COPY requirements/image.txt /tmp/requirements.txt\n" + PIP,
          PIP + "COPY requirements/image.txt /tmp/requirements.txt\n")],
        "the image has no such file at this step"),
    "handler_copied_under_another_module_name": (
        [(HANDLER, "COPY solutions/03_lambda_code/lambda_function.py ${LAMBDA_TASK_ROOT}/app.py\n"
                   "COPY solutions/03_lambda_code/safe_download.py solutions/03_lambda_code/safe_image.py "
                   "${LAMBDA_TASK_ROOT}/\n")],
        "the task root has no lambda_function.py (your handler is copied to /var/task/app.py)"),
    "cmd_names_a_function_that_does_not_exist": (
        [(CMD, 'CMD ["lambda_function.handler"]\n')], "has no function handler (Lambda would fail with "
                                                      "Runtime.HandlerNotFound)"),
    "two_files_copied_to_a_destination_without_slash": (
        [(MODEL, "COPY models/clothing-model.tflite models/labels.txt ${LAMBDA_TASK_ROOT}\n")],
        "DL3021: COPY with more than 2 arguments requires the last argument to end with /"),
    "model_not_in_the_build_context": (
        [(MODEL, MODEL.replace("models/labels.txt", "models/clothing-model.keras"))], ".dockerignore leaves it out"),
    # COPY keeps the checkout's modes: from a clone made under umask 077, Lambda's non-root user cannot read the files
    "files_keep_the_checkouts_modes": (
        PLAIN_COPY, "lines 44, 55: COPY keeps the modes the files have in the build context, and a checkout made "
                    "under umask 077 (hardened Linux, some university machines) has -rw------- files: in the image, "
                    "/var/task/clothing-model.tflite, /var/task/labels.txt, /var/task/lambda_function.py, "
                    "/var/task/safe_download.py, /var/task/safe_image.py would be -rw-------. Lambda runs the "
                    "function as a non-root user, which could not read them: the function would fail to start with "
                    "PermissionError: [Errno 13] Permission denied"),
    "only_the_handler_made_readable": (
        [(MODEL_MODES, "")], "line 44: COPY keeps the modes the files have in the build context, and a checkout made "
                             "under umask 077 (hardened Linux, some university machines) has -rw------- files: in "
                             "the image, /var/task/clothing-model.tflite, /var/task/labels.txt would be -rw-------"),
    "handler_made_executable_not_readable": (
        [(HANDLER_MODES, HANDLER_MODES.replace("chmod 0644", "chmod +x"))],
        "/var/task/lambda_function.py, /var/task/safe_download.py, /var/task/safe_image.py would be -rwx--x--x"),
    "chmod_of_a_file_the_image_does_not_have": (
        [(MODEL_MODES, MODEL_MODES.replace("labels.txt", "models/labels.txt"))],
        'RUN chmod 0644 /var/task/models/labels.txt: no such file or folder in the image at this step, so chmod '
        'fails and docker build stops there'),
}


@pytest.mark.parametrize("edits, message", WRONG_DOCKERFILES.values(), ids=WRONG_DOCKERFILES.keys())
def test_a_wrong_dockerfile_is_incorrect(submission, edits, message):
    with pytest.raises(Incorrect, match=re.escape(message)):
        checks.check_dockerfile(*graded(submission, edits))


def test_every_fault_is_reported_at_once(submission):
    dockerfile = graded(submission, [(FROM, "FROM public.ecr.aws/lambda/python:3.11\n"),
                                     (PIP, PIP.replace("--no-cache-dir ", "")),
                                     (HANDLER, HANDLER.replace(" solutions/03_lambda_code/safe_download.py", "")),
                                     (HANDLER_MODES, HANDLER_MODES.replace(' "${LAMBDA_TASK_ROOT}/safe_download.py"',
                                                                           "")),
                                     (CMD, "CMD lambda_function.lambda_handler\n")])
    with pytest.raises(Incorrect) as failure:
        checks.check_dockerfile(*dockerfile)
    message = str(failure.value)
    assert "4 problems:" in message
    for part in ("glibc 2.26", "add --no-cache-dir", "is in shell form", "imports safe_download.py"):
        assert message.count(part) == 1, (part, message)
    assert "DL3042" not in message and "DL3025" not in message  # hadolint's findings said once, in our words


def test_an_exec_form_cmd_naming_a_script_is_not_called_shell_form(submission):
    with pytest.raises(Incorrect) as failure:
        checks.check_dockerfile(*graded(submission, [(CMD, 'CMD ["lambda_function.py"]\n')]))
    assert "shell form" not in str(failure.value)
    assert 'e.g. CMD ["lambda_function.lambda_handler"]' in str(failure.value)


AWS_DOCS_STYLE = f"""FROM {checks.LAMBDA_BASE_IMAGE}
# Copy requirements.txt
COPY requirements/image.txt ${{LAMBDA_TASK_ROOT}}

# Install the specified packages
RUN pip install --no-cache-dir -r image.txt

# Copy function code
COPY {{code}}/lambda_function.py ${{LAMBDA_TASK_ROOT}}
COPY {{code}}/safe_download.py ${{LAMBDA_TASK_ROOT}}
COPY {{code}}/safe_image.py ${{LAMBDA_TASK_ROOT}}
COPY models/clothing-model.tflite ${{LAMBDA_TASK_ROOT}}
COPY models/labels.txt ${{LAMBDA_TASK_ROOT}}
# Readable by Lambda's user whatever the checkout's modes (the packages went to site-packages: nothing else here)
RUN chmod -R a+rX ${{LAMBDA_TASK_ROOT}}

# Set the CMD to your handler (could also be done as a parameter override outside of the Dockerfile)
CMD [ "lambda_function.lambda_handler" ]
"""
WORKDIR_AND_ARG_STYLE = """ARG PYTHON_VERSION=3.13
FROM public.ecr.aws/lambda/python:${PYTHON_VERSION}
ENV PIP_NO_CACHE_DIR=1
WORKDIR ${LAMBDA_TASK_ROOT}
COPY requirements/image.txt ./requirements.txt
RUN python3 -m pip install --requirement=requirements.txt --target=.
COPY --chmod=644 models/*.tflite models/labels.txt ./
COPY --chmod=0644 {code}/ ./
CMD ["lambda_function.lambda_handler"]
"""
MODEL_OUTSIDE_THE_TASK_ROOT = f"""{FROM}COPY requirements/image.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --requirement /tmp/requirements.txt --target "${{LAMBDA_TASK_ROOT}}"
COPY models/* /opt/model/
ENV MODEL_PATH=/opt/model/clothing-model.tflite
COPY {{code}}/lambda_function.py {{code}}/safe_download.py {{code}}/safe_image.py ${{LAMBDA_TASK_ROOT}}/
RUN chmod go+r /opt/model/clothing-model.tflite /opt/model/labels.txt ${{LAMBDA_TASK_ROOT}}/*.py
{CMD}"""
RIGHT_DOCKERFILES = {
    "aws_docs_style": AWS_DOCS_STYLE,
    "workdir_arg_and_pip_env": WORKDIR_AND_ARG_STYLE,
    "model_outside_the_task_root_with_model_path": MODEL_OUTSIDE_THE_TASK_ROOT,
}


@pytest.mark.parametrize("text", RIGHT_DOCKERFILES.values(), ids=RIGHT_DOCKERFILES.keys())
def test_a_right_dockerfile_written_differently_is_correct(submission, capsys, text):
    assert checks.check_dockerfile(*graded(submission, whole(text.replace("{code}", "03_lambda_code")))) is None
    assert "dockerfile: correct" in capsys.readouterr().out


# --- task_root: built and run under Python 3.13 ------------------------------------------------------------------

@pytest.fixture
def runnable():
    if reason := checks.task_root_unavailable():
        pytest.skip(reason)


def run_task_root(dockerfile):
    """``check_task_root``; the test is skipped when pip cannot reach the package index."""
    try:
        return checks.check_task_root(*dockerfile)
    except RuntimeError as e:
        if any(word in str(e) for word in ("NewConnectionError", "Max retries", "Could not fetch URL",
                                           "Temporary failure in name resolution", "Network is unreachable")):
            pytest.skip(f"the package index cannot be reached: {str(e).splitlines()[-1]}")
        raise


OTHER_PLATFORM = "manylinux2014_x86_64" if lambda_runtime.host_architecture() == "arm64" else "manylinux2014_aarch64"
WRONG_TASK_ROOTS = {  # each passes the static read (asserted below), and fails when run
    "image_byte_cap_with_a_unit": (
        [(CMD, "ENV MAX_IMAGE_BYTES=10MB\n" + CMD)],
        "the function failed to start (Lambda's INIT phase: importing lambda_function from the task root):\n"
        "  ValueError: invalid literal for int() with base 10: '10MB'"),
    "image_byte_cap_in_megabytes": (
        [(CMD, "ENV MAX_IMAGE_BYTES=10\n" + CMD)], "(the image sets ENV MAX_IMAGE_BYTES=10: check each value"),
    "cmd_names_predict_not_the_handler": (
        [(CMD, 'CMD ["lambda_function.predict"]\n')], "predict() takes 1 positional argument but 2 were given"),
    "wheels_of_the_other_architecture": (
        [(PIP, PIP.replace('--target "${LAMBDA_TASK_ROOT}"',
                           '--target "${LAMBDA_TASK_ROOT}" --platform ' + OTHER_PLATFORM))],
        "installs wheels for " + ("x86_64" if OTHER_PLATFORM.endswith("x86_64") else "arm64")),
}


@pytest.mark.parametrize("edits, message", WRONG_TASK_ROOTS.values(), ids=WRONG_TASK_ROOTS.keys())
def test_a_task_root_that_fails_when_run_is_incorrect(submission, runnable, capsys, edits, message):
    dockerfile = graded(submission, edits)
    assert checks.check_dockerfile(*dockerfile) is None  # the static read cannot see it
    with pytest.raises(Incorrect, match=re.escape(message)) as failure:
        run_task_root(dockerfile)
    assert "LAMBDA_WARNING" not in str(failure.value) and "Traceback" not in str(failure.value)


def test_a_function_that_fails_to_start_says_why_first_and_briefly(submission, runnable):
    dockerfile = graded(submission, [(MODEL, MODEL.replace(" models/labels.txt", "")),  # labels left out
                                     (MODEL_MODES, MODEL_MODES.replace(' "${LAMBDA_TASK_ROOT}/labels.txt"', ""))])
    with pytest.raises(Incorrect) as failure:
        run_task_root(dockerfile)
    message = str(failure.value).split(" Hint: ")[0]
    lines = message.splitlines()
    assert lines[1].strip() == "FileNotFoundError: [Errno 2] No such file or directory: '/var/task/labels.txt'"
    assert lines[2].strip().startswith('at File "/var/task/lambda_function.py", line')
    assert len(message) < 1200 and "/tmp/tmp" not in message


RIGHT_TASK_ROOTS = {
    "aws_docs_style_into_site_packages": AWS_DOCS_STYLE,
    "workdir_arg_folder_copy_and_model_path": WORKDIR_AND_ARG_STYLE.replace(
        "COPY --chmod=644 models/*.tflite models/labels.txt ./", "COPY --chmod=644 models/*.tflite models/labels.txt "
        "/opt/model/\nENV MODEL_PATH=/opt/model/clothing-model.tflite"),
}


@pytest.mark.parametrize("text", RIGHT_TASK_ROOTS.values(), ids=RIGHT_TASK_ROOTS.keys())
def test_a_right_task_root_written_differently_runs(submission, runnable, capsys, text):
    dockerfile = graded(submission, whole(text.replace("{code}", "solutions/03_lambda_code")))
    assert checks.check_dockerfile(*dockerfile) is None
    assert run_task_root(dockerfile) is None
    assert "task_root: correct" in capsys.readouterr().out
