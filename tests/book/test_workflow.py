"""The GitHub Actions workflow that tests, builds and publishes the book (it cannot run here: it is checked)."""

from __future__ import annotations

import re

import pytest
import yaml

from dexmood import paths

WORKFLOW = paths.PROJECT_ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow():
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop("on", data.pop(True, None))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow):
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def readme_test_command() -> str:
    readme = (paths.PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    return next(line.split("#")[0].strip() for line in block.splitlines() if "test" in line.split("#")[0])


def test_triggers(workflow):
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "pull_request" in workflow["on"]


def test_runs_the_readme_test_command_and_builds_the_pdf(workflow):
    runs = [step.get("run", "") for step in _steps(workflow)]
    assert readme_test_command() == "make test"
    assert any(readme_test_command() in run for run in runs)
    assert any("make pdf" in run for run in runs)
    python = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/setup-python")]
    assert python and python[0]["with"]["python-version"] == "3.11"


def test_deploys_the_html_to_pages_from_main_only(workflow):
    upload = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert "refs/heads/main" in upload[0]["if"]
    deploy = workflow["jobs"]["deploy"]
    assert "refs/heads/main" in deploy["if"] and deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert workflow["permissions"] == {"contents": "read"}


def test_attaches_the_pdf(workflow):
    artifacts = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert any(s["with"]["path"] == "_build/pdf/book.pdf" for s in artifacts)


def test_actions_are_pinned_to_a_major_version(workflow):
    for step in _steps(workflow):
        if "uses" in step:
            assert re.search(r"@v\d+$|@[0-9a-f]{40}$", step["uses"]), step["uses"]


def test_binder_configuration():
    binder = paths.PROJECT_ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    assert "-r ../requirements.lock" in (binder / "requirements.txt").read_text()
    post_build = (binder / "postBuild").read_text()
    assert "warm_compile_cache" in post_build and "PYTENSOR_FLAGS" in post_build
    assert "PYTENSOR_FLAGS" in (binder / "start").read_text()
    import os

    assert os.access(binder / "postBuild", os.X_OK) and os.access(binder / "start", os.X_OK)
