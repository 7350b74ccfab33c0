"""The command line: --help, TASKQUEUE_* environment variables, --actions user modules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO, ServiceProcess
from tests.web.client import list_tasks, submit, wait_for_status

pytestmark = pytest.mark.system

SAMPLE_ACTIONS = "tests.system.sample_actions"

# Every flag of issue 2 with the default it documents (a pattern).
FLAG_DEFAULTS = {
    "--host": r"[\w.:]+",
    "--port": r"8080",
    "--db": re.escape("sqlite:///data/tasks.db"),
    "--workers": r"2",
    "--prefetch": r"5",
    "--simulated-work": r"0\.1",
    "--max-attempts": r"5",
    "--retry-backoff": r"1(\.0)?",
    "--max-body": r"1048576",
    "--shutdown-timeout": r"[\d.]+",
}


class EnvConfiguredService(ServiceProcess):
    """``python run.py`` with no flags: everything comes from ``TASKQUEUE_*`` variables."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        super().__init__("", cwd / "service.log")
        self.env.update({"TASKQUEUE_PORT": str(self.port), **env})

    def start(self, wait: bool = True) -> ServiceProcess:
        self.ready.clear()
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "run.py")],
            cwd=self.log_path.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        self._reader = threading.Thread(target=self._copy_log, args=(self.process,), daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready()
        return self


@pytest.fixture
def env_service(tmp_path):
    started: list[EnvConfiguredService] = []

    def start(env: dict[str, str], cwd: Path = tmp_path) -> EnvConfiguredService:
        service = EnvConfiguredService(cwd, env)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def run_py(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, str(REPO / "run.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100", **(env or {})},
    )


def test_help_documents_every_flag_with_its_default():
    result = run_py("--help")

    assert result.returncode == 0, result
    text = " ".join(result.stdout.split())  # undo argparse's line wrapping
    options = text[text.index("options:") :]
    # Each option's entry runs from its name to the next option's name.
    entries = {
        match.group(1): match.group(0)
        for match in re.finditer(
            r"(--[a-z][a-z-]*) [A-Z_]+ .*?(?= --[a-z][a-z-]* [A-Z_]+ |$)", options
        )
    }
    for flag, default in FLAG_DEFAULTS.items():
        assert flag in entries, f"{flag} missing from --help:\n{result.stdout}"
        assert re.search(rf"\(default: {default}\)", entries[flag]), entries[flag]
    assert "--actions" in entries and "repeatable" in entries["--actions"], entries.get("--actions")
    assert "migrate" in text
    assert "TASKQUEUE_" in text


def test_port_and_database_from_the_environment(env_service, tmp_path):
    db_file = tmp_path / "from-env.db"

    # Given: no flags, only environment variables
    service = env_service(
        {
            "TASKQUEUE_DB": f"sqlite:///{db_file}",
            "TASKQUEUE_SIMULATED_WORK": "0",
            "TASKQUEUE_MAX_ATTEMPTS": "1",
            "TASKQUEUE_ACTIONS": SAMPLE_ACTIONS,
        }
    )

    # Then: it listens on TASKQUEUE_PORT and stores in TASKQUEUE_DB
    reversed_id = submit(service.base_url, "reverse", {"text": "env"})
    reversed_task = wait_for_status(service.base_url, reversed_id, "completed")
    assert reversed_task["result"] == {"output": "vne"}
    failing = submit(service.base_url, "sum", {"numbers": [None]})
    assert wait_for_status(service.base_url, failing, "dead")["attempts"] == 1
    assert db_file.exists()
    assert not (tmp_path / "data").exists()
    assert f"port={service.port} " in service.log()


def test_defaults_store_in_data_tasks_db_under_the_working_directory(env_service, tmp_path):
    workdir = tmp_path / "fresh"
    workdir.mkdir()

    service = env_service({}, cwd=workdir)
    task_id = submit(service.base_url, "uppercase", {"text": "default"})

    task = wait_for_status(service.base_url, task_id, "completed")
    assert task["result"] == {"output": "DEFAULT"}
    assert (workdir / "data" / "tasks.db").is_file()


def test_actions_loads_user_modules(sqlite_url, start_service, tmp_path):
    # Given: a module in the repository and one of the user's own, outside it
    (tmp_path / "my_actions.py").write_text(
        "from actors import action\n\n\n"
        "@action('shout')\n"
        "def shout(data):\n"
        "    return {'output': data['text'].upper() + '!'}\n"
    )
    service = start_service(
        sqlite_url,
        "--simulated-work",
        "0",
        "--actions",
        SAMPLE_ACTIONS,
        "--actions",
        "my_actions",
        env={"PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}"},
    )

    # When
    reversed_id = submit(service.base_url, "reverse", {"text": "hello world"})
    shouted_id = submit(service.base_url, "shout", {"text": "hey"})
    builtin_id = submit(service.base_url, "uppercase", {"text": "still built in"})

    # Then: each runs its own function, and the built-ins are still there
    assert wait_for_status(service.base_url, reversed_id, "completed")["result"] == {
        "output": "dlrow olleh"
    }
    assert wait_for_status(service.base_url, shouted_id, "completed")["result"] == {
        "output": "HEY!"
    }
    assert wait_for_status(service.base_url, builtin_id, "completed")["result"] == {
        "output": "STILL BUILT IN"
    }
    assert list_tasks(service.base_url, status="completed")["count"] == 3


def test_a_missing_actions_module_fails_clearly(sqlite_url, tmp_path):
    service = ServiceProcess(
        sqlite_url, tmp_path / "service.log", "--actions", "no_such_actions_module"
    )

    service.start(wait=False)
    try:
        code = service.wait(30)
    finally:
        service.stop()

    log = service.log()
    assert code != 0, log
    assert "no_such_actions_module" in log, log
    assert "Traceback" not in log, log


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TASKQUEUE_PORT", "eighty"),
        ("TASKQUEUE_WORKERS", "0"),
        ("TASKQUEUE_SIMULATED_WORK", "-1"),
    ],
)
def test_a_bad_environment_variable_is_a_usage_error(tmp_path, variable, value):
    result = run_py(
        "migrate", "--db", f"sqlite:///{tmp_path}/tasks.db", cwd=tmp_path, env={variable: value}
    )

    assert result.returncode == 2, result
    assert variable in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "tasks.db").exists()
