"""The two ways to build the environment pin the same versions."""

from dexmood import paths


def _lock_pins():
    return [line.strip() for line in (paths.PROJECT_ROOT / "requirements.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_environment_yml_lists_the_lock_file_pins():
    text = (paths.PROJECT_ROOT / "environment.yml").read_text()
    assert "python=3.11" in text
    pip_lines = [line.strip()[2:] for line in text.splitlines() if line.startswith("      - ")]
    assert [p for p in pip_lines if p != "-e ."] == _lock_pins()


def test_every_pin_is_exact():
    assert all("==" in pin for pin in _lock_pins())


def test_private_data_is_ignored():
    ignored = (paths.PROJECT_ROOT / ".gitignore").read_text().split()
    for entry in ("data/private/", "data/derived/", ".venv/", "_build/"):
        assert entry in ignored
