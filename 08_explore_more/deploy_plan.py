"""Deploy the classifier to Google Cloud Run functions or to Azure Functions: the plan, printed, never run.

    python solutions/08_explore_more/deploy_plan.py gcp   [--name NAME] [--region europe-west1] [--stage build/gcp]
    python solutions/08_explore_more/deploy_plan.py azure [--name NAME] [--region westeurope] [--app APP]
                                                          [--storage ACCOUNT] [--stage build/azure]
    (make deploy-plan PLATFORM=gcp|azure [REGION=...] [NAME=...] [ARGS='--stage build/gcp'])

The plan lists the source folder each platform builds from (the adapter, chapter 03's handler files beside it, the
model, a ``requirements.txt``, and Azure's ``host.json``), the exact ``gcloud`` / ``az`` commands, and the memory,
timeout and concurrency chosen, with the reason for each. ``--stage DIR`` writes that folder (local files only).
Nothing here calls Google or Azure, or needs an account: run the printed commands yourself, with the CLI signed in.

Google: a source deploy of a 2nd gen Cloud Run function (``gcloud functions deploy --gen2 --source``: Google's
buildpacks build the container). Azure: a Flex Consumption function app, deployed as a zip package
(``az functionapp deployment source config-zip``; ``func azure functionapp publish`` from Core Tools does the same).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tutorial_support import deployment
from tutorial_support.paths import HANDLER_DIR, LABELS, REPO_ROOT, TFLITE_MODEL

HERE = Path(__file__).resolve().parent
REQUIREMENTS = REPO_ROOT / "requirements"
# The handler's task root (chapter 04's image copies the same files): lambda_function.py and the modules it imports.
HANDLER_FILES = ("lambda_function.py", "safe_download.py", "safe_image.py")
PLATFORMS = ("gcp", "azure")
DEFAULT_REGIONS = {"gcp": "europe-west1", "azure": "westeurope"}

# Google: a 2nd gen Cloud Run function. Its runtime ids: cloud.google.com/functions/docs/runtime-support.
GCP_RUNTIME = "python312"
GCP_ENTRY_POINT = "classify"  # google_cloud_function.classify, the HTTP function
GCP_MEMORY = "1Gi"  # 0.583 vCPU at 1 GiB, 1 vCPU at 2 GiB (docs.cloud.google.com/functions/docs/configuring/memory)
# Azure: a Flex Consumption app. Python 3.10 and 3.11 were the versions its docs listed (flex-consumption-plan.md);
# azure-functions 1.x, pinned in requirements/dev.txt for Python < 3.13, is the library for them.
AZURE_PYTHON = "3.11"
AZURE_INSTANCE_MEMORY_MB = 2048  # the plan's default instance size (flex-consumption-plan.md, "Instance memory")


@dataclass
class Plan:
    """What to deploy where: ``files`` ({name in the folder: source path}) and ``generated`` ({name: text}) make the
    source folder; ``commands`` deploy it, in order; ``settings`` are (setting, value, why)."""

    platform: str
    folder: str
    files: dict[str, Path] = field(default_factory=dict)
    generated: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    settings: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def pinned(name: str, requirements: Path = REQUIREMENTS / "dev.txt") -> list[str]:
    """The lines of ``requirements`` that pin ``name`` (``name==version``, with their environment markers).

    Raises:
        LookupError: ``requirements`` pins no such package.
    """
    lines = [line.strip() for line in requirements.read_text().splitlines() if line.startswith(f"{name}==")]
    if not lines:
        raise LookupError(f"{requirements} pins no {name}")
    return lines


def requirements_txt(platform_package: str) -> str:
    """The folder's ``requirements.txt``: the handler's serving requirements (``requirements/serve.txt``, pinned)
    and the platform's library, pinned as in ``requirements/dev.txt``."""
    serving = [line.rstrip() for line in (REQUIREMENTS / "serve.txt").read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    header = ["# The handler's serving requirements (requirements/serve.txt) and the platform's library, pinned as "
              "in requirements/dev.txt."]
    return "\n".join(header + serving + pinned(platform_package)) + "\n"


def _handler_files() -> dict[str, Path]:
    files = {name: HANDLER_DIR / name for name in HANDLER_FILES}
    files.update({TFLITE_MODEL.name: TFLITE_MODEL, LABELS.name: LABELS})  # beside the handler, as in the image
    return files


# The handler's peak memory is about 100 MB (tutorial_support.deployment, DEFAULT_MEMORY_MB): memory is chosen for the
# CPU it buys, the handler being CPU-bound (decoding, resizing, inference).
WHY_MEMORY = "the handler peaks at about 100 MB, but memory buys CPU, and the handler is CPU-bound"


def _why_timeout() -> str:
    return (f"{deployment.DEFAULT_TIMEOUT_S} s, as on Lambda: a cold start plus the handler's whole download, which "
            "may take FETCH_TIMEOUT_S (10 s)")


WHY_CONCURRENCY = ("one request per instance, as in a Lambda execution environment: the handler's LiteRT interpreter "
                   "is one per process and runs one request at a time, so more would only queue inside an instance "
                   "instead of starting another")


def gcp_plan(name: str = deployment.DEFAULT_NAME, region: str = DEFAULT_REGIONS["gcp"]) -> Plan:
    """The plan for a 2nd gen Cloud Run function built from source, open to anyone with its URL (as chapter 06's
    default API), at most ``deployment.DEFAULT_MAX_CONCURRENCY`` instances (the bill's cap)."""
    folder = f"build/gcp-{name}"
    plan = Plan("gcp", folder)
    # The Functions Framework looks for the function in main.py (its default --source).
    plan.files = {"main.py": HERE / "google_cloud_function.py", **_handler_files()}
    plan.generated = {"requirements.txt": requirements_txt("functions-framework")}
    cap = deployment.DEFAULT_MAX_CONCURRENCY
    plan.commands = [
        ["gcloud", "functions", "deploy", name, "--gen2", f"--region={region}", f"--runtime={GCP_RUNTIME}",
         f"--source={folder}", f"--entry-point={GCP_ENTRY_POINT}", "--trigger-http", "--allow-unauthenticated",
         f"--memory={GCP_MEMORY}", f"--timeout={deployment.DEFAULT_TIMEOUT_S}s", "--concurrency=1",
         f"--max-instances={cap}"],
        ["gcloud", "functions", "describe", name, "--gen2", f"--region={region}", "--format=value(url)"],
        ["python", "solutions/06_api_gateway/predict.py", "FUNCTION_URL", deployment.DEFAULT_URL],
        ["gcloud", "functions", "delete", name, "--gen2", f"--region={region}"],
    ]
    plan.settings = [
        ("memory", GCP_MEMORY, f"as Lambda's {deployment.DEFAULT_MEMORY_MB:,} MB (chapter 05): {WHY_MEMORY}; 1 GiB "
                               "gives 0.583 vCPU"),
        ("timeout", f"{deployment.DEFAULT_TIMEOUT_S}s", _why_timeout()),
        ("concurrency", "1", WHY_CONCURRENCY),
        ("max instances", str(cap), f"at most {cap} requests at once, as Lambda's reserved concurrency (chapter 05): "
                                    "the most the URL can cost, whoever finds it"),
        ("access", "--allow-unauthenticated", "anyone with the URL, as chapter 06's default API; drop it to require "
                                              "an identity token (predict.py --token \"$(gcloud auth "
                                              "print-identity-token)\")"),
    ]
    plan.notes = ["The last two commands: classify a photo through the function's URL (any path: / or /predict), "
                  "then delete the function."]
    return plan


def host_json() -> str:
    """Azure's ``host.json``: the Functions host's version 2 schema, the function timeout, and the extension bundle
    the templates of ``func init`` add."""
    seconds = deployment.DEFAULT_TIMEOUT_S
    return json.dumps({"version": "2.0", "functionTimeout": f"00:{seconds // 60:02d}:{seconds % 60:02d}",
                       "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                           "version": "[4.*, 5.0.0)"}}, indent=2) + "\n"


def azure_plan(name: str = deployment.DEFAULT_NAME, region: str = DEFAULT_REGIONS["azure"], app: str | None = None,
               storage: str | None = None) -> Plan:
    """The plan for a Flex Consumption function app, zip-deployed, called with a function key.

    Args:
        app: the function app's name, unique across Azure (its host name is APP.azurewebsites.net); default: ``name``.
        storage: the storage account's name, unique across Azure, 3 to 24 lower-case letters and digits; default:
            ``name`` without the other characters.
    """
    app = app or name
    storage = storage or re.sub(r"[^a-z0-9]", "", name.lower())[:24]
    group, folder = f"{name}-rg", f"build/azure-{name}"
    plan = Plan("azure", folder)
    # The Python v2 model's host indexes function_app.py.
    plan.files = {"function_app.py": HERE / "azure_function_app.py", **_handler_files()}
    plan.generated = {"requirements.txt": requirements_txt("azure-functions"), "host.json": host_json()}
    plan.commands = [
        ["az", "group", "create", "--name", group, "--location", region],
        ["az", "storage", "account", "create", "--name", storage, "--location", region, "--resource-group", group,
         "--sku", "Standard_LRS", "--allow-blob-public-access", "false"],
        ["az", "functionapp", "create", "--resource-group", group, "--name", app, "--storage-account", storage,
         "--flexconsumption-location", region, "--runtime", "python", "--runtime-version", AZURE_PYTHON,
         "--instance-memory", str(AZURE_INSTANCE_MEMORY_MB)],
        ["az", "functionapp", "scale", "config", "set", "--resource-group", group, "--name", app, "--trigger-type",
         "http", "--trigger-settings", "perInstanceConcurrency=1"],
        ["sh", "-c", f"cd {folder} && zip -r ../azure-{name}.zip ."],
        ["az", "functionapp", "deployment", "source", "config-zip", "--resource-group", group, "--name", app,
         "--src", f"build/azure-{name}.zip", "--build-remote", "true"],
        ["az", "functionapp", "function", "keys", "list", "--resource-group", group, "--name", app,
         "--function-name", "classify"],
        ["python", "solutions/06_api_gateway/predict.py", f"https://{app}.azurewebsites.net/api/predict?code=KEY",
         deployment.DEFAULT_URL],
        ["az", "group", "delete", "--name", group],
    ]
    plan.settings = [
        ("instance memory", f"{AZURE_INSTANCE_MEMORY_MB} MB", f"the plan's default instance size, and the smallest "
                                                              f"its docs listed (2024): {WHY_MEMORY}"),
        ("functionTimeout (host.json)", f"{deployment.DEFAULT_TIMEOUT_S} s", _why_timeout()),
        ("HTTP concurrency per instance", "1", WHY_CONCURRENCY),
        ("auth level", "FUNCTION", "a function key in the URL (?code=KEY, from the keys list command): the plan "
                                   "scales out by itself, so the key keeps strangers' requests off the bill"),
    ]
    plan.notes = [f"{app} and {storage} must be unique across Azure: choose others with --app and --storage.",
                  "The Azure Functions Core Tools deploy the same folder with: "
                  f"cd {folder} && func azure functionapp publish {app}"]
    return plan


def make_plan(platform: str, name: str = deployment.DEFAULT_NAME, region: str | None = None, **azure) -> Plan:
    """``gcp_plan`` or ``azure_plan``. Raises ValueError for another platform."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
    region = region or DEFAULT_REGIONS[platform]
    return gcp_plan(name, region) if platform == "gcp" else azure_plan(name, region, **azure)


def _shown(path: Path) -> str:
    """``path`` relative to the checkout it is in (this repository, or a student's copy of the chapter folders)."""
    for root in (REPO_ROOT, HERE.parent):
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return str(path)


def render(plan: Plan) -> str:
    """The plan as text: the folder, the commands (shell-quoted, to paste), the settings and why."""
    lines = [f"Plan ({plan.platform}), nothing is run: build the source folder {plan.folder}/ "
             f"(deploy_plan.py {plan.platform} --stage {plan.folder} writes it):"]
    for target, source in plan.files.items():
        lines.append(f"  {target:<22} <- {_shown(source)}")
    for target in plan.generated:
        lines.append(f"  {target:<22} <- generated (shown below)")
    lines += ["", "Then, with the CLI signed in:"]
    lines += [f"  {shlex.join(command)}" for command in plan.commands]
    lines += ["", "Settings:"]
    lines += [f"  {setting}: {value}: {why}" for setting, value, why in plan.settings]
    if plan.notes:
        lines += ["", *plan.notes]
    for target, text in plan.generated.items():
        lines += ["", f"{target}:", *(f"  {line}" for line in text.splitlines())]
    return "\n".join(lines) + "\n"


def stage(plan: Plan, folder: Path) -> list[Path]:
    """Write the plan's source folder at ``folder`` (created; files already there are replaced). Returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for target, source in plan.files.items():
        shutil.copyfile(source, folder / target)
        written.append(folder / target)
    for target, text in plan.generated.items():
        (folder / target).write_text(text)
        written.append(folder / target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("platform", choices=PLATFORMS)
    parser.add_argument("--name", default=deployment.DEFAULT_NAME, help="the function's (and its resources') name")
    parser.add_argument("--region", help=f"default: {DEFAULT_REGIONS}")
    parser.add_argument("--app", help="azure: the function app's name, unique across Azure (default: --name)")
    parser.add_argument("--storage", help="azure: the storage account's name, unique across Azure")
    parser.add_argument("--stage", type=Path, help="write the source folder there (local files only)")
    args = parser.parse_args(argv)
    azure = {"app": args.app, "storage": args.storage} if args.platform == "azure" else {}
    plan = make_plan(args.platform, args.name, args.region, **azure)
    print(render(plan), end="")
    if args.stage:
        files = stage(plan, args.stage)
        print(f"\nWrote {len(files)} files in {args.stage}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
