"""Chapter 08's deployment plans (``deploy_plan.py``, ``make deploy-plan``): the commands carry chapter 05's settings,
nothing is run, and the staged source folder works on its own, the adapter importing the handler from beside it as
it does once deployed (no ``PYTHONPATH``, no repository)."""

import json
import os
import subprocess
import sys

import deploy_plan
import pytest
from conftest import REPO_ROOT, SOLUTIONS

from grading.starters import imported_modules
from tutorial_support import deployment


def test_the_handler_files_are_the_handler_and_what_it_imports():
    handler = SOLUTIONS / "03_lambda_code"
    assert set(deploy_plan.HANDLER_FILES) == {"lambda_function.py"} | imported_modules(handler, ["lambda_function.py"])


def test_the_google_plan_deploys_the_adapter_with_chapter_05s_settings():
    plan = deploy_plan.make_plan("gcp", "my-classifier", "us-central1")
    deploy = plan.commands[0]
    assert deploy[:4] == ["gcloud", "functions", "deploy", "my-classifier"]
    assert {"--gen2", "--trigger-http", "--region=us-central1", "--entry-point=classify", "--concurrency=1",
            f"--timeout={deployment.DEFAULT_TIMEOUT_S}s", f"--max-instances={deployment.DEFAULT_MAX_CONCURRENCY}",
            f"--source={plan.folder}"} <= set(deploy)
    assert plan.files["main.py"] == SOLUTIONS / "08_explore_more" / "google_cloud_function.py"
    assert plan.commands[-1][:3] == ["gcloud", "functions", "delete"]
    requirements = plan.generated["requirements.txt"].splitlines()
    assert deploy_plan.pinned("functions-framework")[0] in requirements
    assert {line for line in (REPO_ROOT / "requirements" / "serve.txt").read_text().splitlines()
            if line and not line.startswith(" ") and not line.startswith("#")} <= set(requirements)


def test_the_azure_plan_is_a_flex_consumption_app_with_a_30_s_host_timeout():
    plan = deploy_plan.make_plan("azure", "my-classifier", app="my-app", storage="mystorage")
    create = next(c for c in plan.commands if c[:3] == ["az", "functionapp", "create"])
    assert "--flexconsumption-location" in create and create[create.index("--name") + 1] == "my-app"
    assert create[create.index("--storage-account") + 1] == "mystorage"
    assert ["--trigger-settings", "perInstanceConcurrency=1"] == next(
        c for c in plan.commands if c[:4] == ["az", "functionapp", "scale", "config"])[-2:]
    minutes, seconds = divmod(deployment.DEFAULT_TIMEOUT_S, 60)
    assert json.loads(plan.generated["host.json"])["functionTimeout"] == f"00:{minutes:02d}:{seconds:02d}"
    assert plan.files["function_app.py"] == SOLUTIONS / "08_explore_more" / "azure_function_app.py"
    assert "azure-functions==" in plan.generated["requirements.txt"]
    assert plan.commands[-1] == ["az", "group", "delete", "--name", "my-classifier-rg"]


def test_an_unknown_platform_is_refused():
    with pytest.raises(ValueError, match="unknown platform 'aws'"):
        deploy_plan.make_plan("aws")


def test_the_plan_is_printed_and_nothing_is_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcloud, az, zip or sh: the plan must not need them
    assert deploy_plan.main(["azure", "--app", "my-app", "--storage", "mystorage"]) == 0
    out = capsys.readouterr().out
    assert "az functionapp create --resource-group clothing-classifier-rg --name my-app" in out
    assert '"functionTimeout": "00:00:30"' in out and "nothing is run" in out


def test_make_deploy_plan_runs_the_script(tmp_path):
    run = subprocess.run(["make", "-n", "-s", "deploy-plan", "PLATFORM=azure", "REGION=northeurope"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "solutions/08_explore_more/deploy_plan.py azure --region northeurope" in run.stdout.replace("\\\n", " ")


def isolated_python(folder, code: str) -> subprocess.CompletedProcess:
    """``code`` run by this environment's Python in ``folder``, without the repository on its path: its installed
    packages, and ``folder`` (the staged source) first, as the platform runs it."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


GOOGLE_IN_FOLDER = """
import functions_framework, json
client = functions_framework.create_app(target="classify", source="main.py").test_client()
response = client.post("/", data=b"{}")
import lambda_function
print(json.dumps([response.status_code, response.get_json(), lambda_function.__file__,
                  str(lambda_function.MODEL_PATH)]))
"""

AZURE_IN_FOLDER = """
import json, types
import azure.functions as func
import function_app, lambda_function
classify = function_app.classify.build().get_user_function()
response = classify(func.HttpRequest(method="POST", url="/api/predict", body=b"{}"),
                    types.SimpleNamespace(invocation_id="i"))
print(json.dumps([response.status_code, json.loads(response.get_body()), lambda_function.__file__,
                  str(lambda_function.MODEL_PATH)]))
"""


@pytest.mark.parametrize("platform, code", [("gcp", GOOGLE_IN_FOLDER), ("azure", AZURE_IN_FOLDER)])
def test_the_staged_folder_answers_on_its_own(tmp_path, platform, code):
    folder = tmp_path / platform
    written = deploy_plan.stage(deploy_plan.make_plan(platform), folder)
    assert sorted(path.name for path in written) == sorted(path.name for path in folder.iterdir())
    run = isolated_python(folder, code)
    assert run.returncode == 0, run.stderr[-2000:]
    status, answer, handler, model = json.loads(run.stdout.strip().splitlines()[-1])
    assert (status, answer["error"]["code"]) == (400, "missing_url")
    assert handler == str(folder / "lambda_function.py") and model == str(folder / "clothing-model.tflite")
