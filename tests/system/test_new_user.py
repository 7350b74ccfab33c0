"""What a new user tripped on, each tried as a new user would: their own modules next to
their actions, a port already taken, log levels, a misspelled variable, --version."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ServiceProcess, free_port
from tests.web.client import request, submit, wait_for, wait_for_log, wait_for_status

pytestmark = pytest.mark.system

USER_ACTIONS = (
    "from actors import action\n"
    "import helpers\n\n\n"
    "@action('resize')\n"
    "def resize(data):\n"
    "    return {'output': helpers.half(int(data['width']))}\n"
)
# A user's own helper modules, named like the service's packages
USER_MODELS = "raise ImportError('this is the user models.py, not the service')\n"
USER_HELPERS = "def half(n):\n    return n // 2\n"
START_SECONDS = 30


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "myactions.py").write_text(USER_ACTIONS)
    (folder / "helpers.py").write_text(USER_HELPERS)
    (folder / "models.py").write_text(USER_MODELS)
    (folder / "web.py").write_text(USER_MODELS)
    return folder


class Launched(ServiceProcess):
    """A service started by an arbitrary command line, in a folder of the user's."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        super().__init__("", cwd / "service.log")
        self.argv = [*argv, "--port", str(self.port), "--simulated-work", "0"]
        self.cwd = cwd
        self.env = {**os.environ, **env}
        self.env.pop("PYTHONPATH", None)
        self.env.update(env)

    def start(self, wait: bool = True) -> Launched:
        import threading

        self.ready.clear()
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
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
def launch():
    started: list[Launched] = []

    def start(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Launched:
        service = Launched(argv, cwd, env or {})
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def console_script() -> str:
    path = shutil.which("taskqueue")
    assert path, "the taskqueue console script is not installed: pip install -e ."
    return path


def resize_runs(service: Launched) -> None:
    task_id = submit(service.base_url, "resize", {"width": 640})
    assert wait_for_status(service.base_url, task_id, "completed")["result"] == {"output": 320}


def test_the_console_script_finds_actions_in_the_working_directory(tmp_path, launch):
    # Given a user's folder with their actions and their own models.py and web.py
    folder = user_folder(tmp_path)
    # When they start the installed command there, with no PYTHONPATH
    service = launch([console_script(), "--actions", "myactions"], folder)
    # Then their action runs (and so do its own imports), and the service is the service
    resize_runs(service)
    assert "this is the user models.py" not in service.log()


def test_a_users_models_py_on_pythonpath_never_shadows_the_service(tmp_path, launch):
    # Given the user's folder first on PYTHONPATH, as a user would set it
    folder = user_folder(tmp_path)
    service = launch(
        [console_script(), "--actions", "myactions"], folder, {"PYTHONPATH": str(folder)}
    )
    resize_runs(service)


def test_actions_may_be_a_file_path_from_anywhere(tmp_path, launch):
    folder = user_folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    service = launch(
        [sys.executable, str(REPO / "run.py"), "--actions", str(folder / "myactions.py")],
        elsewhere,
    )
    resize_runs(service)


@pytest.mark.parametrize("name", ["models", "web", "actors.x"])
def test_an_actions_module_named_like_the_service_is_refused_clearly(tmp_path, name):
    result = subprocess.run(
        [sys.executable, str(REPO / "run.py"), "migrate", "--actions", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4, result
    assert "service's own packages" in result.stderr and "rename" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_already_in_use_is_one_clear_line_before_any_worker_starts(tmp_path):
    # Given a port another program listens on, and a task waiting in the database
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = f"sqlite:///{tmp_path}/tasks.db"
        # When the service is started on it
        result = subprocess.run(
            [sys.executable, str(REPO / "run.py"), "--port", str(port), "--db", db],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    # Then it exits with its own status and one line that says why, and ran nothing
    assert result.returncode == 3, result
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], lines
    assert not (tmp_path / "tasks.db").exists()  # not even migrated: no worker started


@pytest.mark.parametrize("level", ["verbose", "5", ""])
def test_a_bad_log_level_is_a_usage_error(tmp_path, level):
    result = subprocess.run(
        [sys.executable, str(REPO / "run.py"), "migrate", "--log-level", level],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert "--log-level" in result.stderr and "DEBUG, INFO, WARNING, ERROR" in result.stderr
    assert "Traceback" not in result.stderr


def wait_until_serving(service: Launched) -> None:
    """For a service that does not log its 'listening' line: wait until it answers."""

    def answers() -> bool:
        try:
            return request(service.base_url, "GET", "/tasks?limit=1").status == 200
        except OSError:
            assert service.process.poll() is None, service.log()
            return False

    wait_for(answers, START_SECONDS, "the service to answer")


def test_log_level_warning_prints_nothing_below_warning(tmp_path, launch):
    service = Launched(
        [sys.executable, str(REPO / "run.py"), "--log-level", "WARNING"], tmp_path, {}
    )
    service.start(wait=False)
    try:
        wait_until_serving(service)
        task_id = submit(service.base_url, "uppercase", {"text": "quiet"})
        wait_for_status(service.base_url, task_id, "completed")
    finally:
        service.stop()
    log = service.log()
    assert " INFO " not in log and "ENGINE" not in log, log


def test_debug_does_not_log_sql_unless_asked(tmp_path, launch):
    quiet = launch([sys.executable, str(REPO / "run.py"), "--log-level", "DEBUG"], tmp_path)
    wait_for_status(quiet.base_url, submit(quiet.base_url, "uppercase", {}), "completed")
    quiet.stop()
    assert "UPDATE tasks" not in quiet.log() and "SELECT" not in quiet.log(), quiet.log()[-2000:]
    chatty_dir = tmp_path / "sql"
    chatty_dir.mkdir()
    chatty = launch(
        [sys.executable, str(REPO / "run.py"), "--log-level", "DEBUG", "--log-sql", "true"],
        chatty_dir,
    )
    wait_for_status(chatty.base_url, submit(chatty.base_url, "uppercase", {}), "completed")
    wait_for_log(chatty, r"UPDATE tasks")


def test_a_misspelled_variable_is_warned_about_at_start(tmp_path, launch):
    service = launch([sys.executable, str(REPO / "run.py")], tmp_path, {"TASKQUEUE_WROKERS": "4"})
    assert re.search(
        r"WARNING unknown environment variable TASKQUEUE_WROKERS is ignored; "
        r"did you mean TASKQUEUE_WORKERS\?",
        service.log(),
    ), service.log()


def test_a_flag_wins_over_its_variable_for_actions_too(tmp_path, launch):
    folder = user_folder(tmp_path)
    # The variable names a module that does not exist: it must not even be imported
    service = launch(
        [sys.executable, str(REPO / "run.py"), "--actions", "myactions"],
        folder,
        {"TASKQUEUE_ACTIONS": "no_such_module_anywhere"},
    )
    resize_runs(service)
    assert "no_such_module_anywhere" not in service.log()


def test_version():
    result = subprocess.run(
        [console_script(), "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result
    assert re.fullmatch(r"taskqueue \d+\.\d+\.\d+\n", result.stdout), result.stdout


def test_a_worker_crash_is_one_log_line_and_the_traceback_is_on_the_task(tmp_path, launch):
    (tmp_path / "crashing.py").write_text(
        "from actors import action\n\n\n"
        "@action('crash')\n"
        "def crash(data):\n"
        "    raise SystemExit(3)\n\n\n"
        "@action('lookup')\n"
        "def lookup(data):\n"
        "    return {'width': data['width']}\n"
    )
    service = launch(
        [sys.executable, str(REPO / "run.py"), "--actions", "crashing", "--max-attempts", "1"],
        tmp_path,
    )
    crashed = submit(service.base_url, "crash", {})
    failed = submit(service.base_url, "lookup", {})
    assert wait_for_status(service.base_url, crashed, "dead")["error"].endswith("SystemExit: 3")
    task = wait_for_status(service.base_url, failed, "dead")
    # The user's own frame and line are on the task, for debugging their action
    assert task["error"] == "KeyError: 'width'"
    assert 'crashing.py", line 11, in lookup' in task["traceback"], task["traceback"]
    assert "return {'width': data['width']}" in task["traceback"]
    wait_for_log(service, r"worker restarted worker=\d error='WorkerCrashed: SystemExit: 3'")
    assert "Traceback" not in service.log(), service.log()


def test_help_shows_each_default_once():
    result = subprocess.run(
        [sys.executable, str(REPO / "run.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    assert "(default: None)" not in result.stdout
    assert result.stdout.count("(default: unlimited)") == 1
    for line in result.stdout.splitlines():
        assert line.count("(default:") <= 1, line


def test_free_port_helper_is_free():
    # The tests' own helper, used above: a port nobody listens on
    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
