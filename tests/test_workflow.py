"""The GitHub Actions workflow: valid against the published workflow schema (offline, check-jsonschema's vendored
copy), and set up as the tests need: Python 3.11 and 3.13, pip's cache, pull requests tested once per commit,
least-privilege permissions, the Docker engine the image test uses, and the README's test command."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from ruamel.yaml import YAML

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
CHECK = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHECK, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def test_the_workflow_is_valid_and_the_validator_does_refuse_a_broken_one(tmp_path):
    assert CHECK, "check-jsonschema is in requirements/dev.txt"
    assert validate(WORKFLOW).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    assert validate(broken).returncode != 0


def test_the_workflow_sets_up_both_pythons_with_pips_cache(workflow):
    setup = next(step for step in workflow["jobs"]["test"]["steps"] if "setup-python" in step.get("uses", ""))
    versions = setup["with"]["python-version"].split()
    assert "3.13" in versions and versions[-1] == "3.11"  # the last one is the default python3
    assert setup["with"]["cache"] == "pip"


def test_pull_requests_are_tested_once_per_commit_with_least_privilege(workflow):
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert workflow["permissions"] == {"contents": "read"}


def test_the_workflow_runs_the_readmes_test_command_where_docker_answers(workflow):
    steps = workflow["jobs"]["test"]["steps"]
    assert steps[-1]["run"] == "bash .ci/run"
    assert any("docker info" in step.get("run", "") for step in steps)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in (REPO_ROOT / "README.md").read_text().split("\n\n", 2)[1]
