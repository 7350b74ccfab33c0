"""Run the task queue service: ``python run.py`` (serve) or ``python run.py migrate``.

Every flag can also be set as an environment variable ``TASKQUEUE_<NAME>``,
e.g. ``TASKQUEUE_PORT=9000`` or ``TASKQUEUE_DB=postgresql://...``; a flag
given on the command line wins over its variable.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _import_own_packages() -> None:
    """Import the service's packages from beside this file, before anything else can.

    ``actors``, ``models`` and ``web`` are generic names: with the user's
    folder early on ``sys.path`` (``PYTHONPATH=.``, or the console script), a
    user's own ``models.py`` would be imported instead of ours.
    """
    here = Path(__file__).resolve().parent
    for name in ("models", "actors", "web"):
        module = sys.modules.get(name)
        if module is not None and Path(module.__file__).resolve().parent.parent == here:
            continue
        spec = importlib.util.spec_from_file_location(
            name, here / name / "__init__.py", submodule_search_locations=[str(here / name)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


_import_own_packages()

import argparse  # noqa: E402 - after the service's own packages, on purpose
import difflib  # noqa: E402
import ipaddress  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib import metadata  # noqa: E402
from typing import Any  # noqa: E402

import actors  # noqa: E402
import models  # noqa: E402
import web  # noqa: E402
from actors import config as queue_defaults  # noqa: E402
from actors.log import write_directly  # noqa: E402
from actors.log_writer import LineFormatter, LineWriter  # noqa: E402

ENV_PREFIX = "TASKQUEUE_"
TEST_ENV_PREFIX = "TASKQUEUE_TEST_"  # the test suite's own variables, not settings
BOOT_TIMEOUT_SECONDS = 120.0
EXIT_USAGE = 2  # as argparse
EXIT_MIGRATION_FAILED = 2
EXIT_SERVER_FAILED = 3
EXIT_BAD_ACTIONS = 4
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

logger = logging.getLogger("taskqueue")


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with, built in one place (``settings_from``)."""

    command: str = "serve"
    db_url: str = models.DEFAULT_DB_URL
    queue: actors.QueueConfig = field(default_factory=actors.QueueConfig)
    intake: models.IntakeConfig = field(default_factory=models.IntakeConfig)
    web: web.WebConfig = field(default_factory=web.WebConfig)
    log_level: str = "INFO"
    log_sql: bool = False
    measure_without: tuple[str, ...] = ()  # parts left out to measure their cost
    actions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # what the settings themselves look wrong about
    token: tuple[str, web.Role] | None = None  # the token command's NAME and ROLE


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {value}")
    return value


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return level


MEASURABLE_PARTS = ("events", "metrics")


def _measured_parts(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    for part in parts:
        if part not in MEASURABLE_PARTS:
            raise argparse.ArgumentTypeError(
                f"must be {' or '.join(MEASURABLE_PARTS)} (comma-separated), got {part!r}"
            )
    return parts


def _queue_names(text: str) -> tuple[str, ...] | None:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        try:
            web.check_queue_name(name, "a queue name")
        except models.InvalidInput as exc:
            raise argparse.ArgumentTypeError(f"{name!r}: {exc}") from None
    return names or None


def _unknown_actions(text: str) -> actors.UnknownActions:
    try:
        return actors.UnknownActions(text.strip().lower())
    except ValueError:
        choices = ", ".join(actors.UnknownActions)
        raise argparse.ArgumentTypeError(f"must be one of {choices}, got {text!r}") from None


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def _token_file(text: str) -> web.TokenTable:
    try:
        return web.load_tokens(text)
    except web.TokenFileError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _origins(text: str) -> tuple[str, ...]:
    origins = tuple(origin.strip() for origin in text.split(",") if origin.strip())
    for origin in origins:
        try:
            web.parse_origin(origin)
        except web.BadOrigin as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return origins


def _host_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if any(c in name for c in " /\\@?#") or name.count(":") == 1:
            raise argparse.ArgumentTypeError(f"a host name without a port, got {name!r}")
    return names


def _readable_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def _duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d`` or plain seconds; ``0`` means for ever."""
    value = text.strip().lower()
    unit = DURATION_UNITS.get(value[-1:], None) if value else None
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a duration such as 90s, 12h or 7d, got {text!r}")
    return seconds


def _webhook_secret(path: str) -> bytes:
    """The key of the ``whsec_…`` secret in the file at ``path``."""
    try:
        with open(path, encoding="ascii") as file:
            return actors.maintenance.parse_secret(file.read())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{path}: {exc}") from None


def _networks(text: str) -> tuple[str, ...]:
    nets = tuple(net.strip() for net in text.split(",") if net.strip())
    for net in nets:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{net!r}: {exc}") from None
    return nets


@dataclass(frozen=True)
class Flag:
    """One setting: its flag, where it goes in ``Settings``, its type, default and help."""

    flag: str
    target: str  # "section.field" or "field" of Settings
    kind: Callable[[str], Any]
    default: Any
    help: str
    shown_default: str | None = None  # how --help shows the default, when not str(default)
    metavar: str | None = None
    switch: bool = False  # given alone (--flag) for True; its variable takes true or false

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.flag.lstrip("-").upper().replace("-", "_")


FLAGS = (
    Flag("--host", "web.host", str, web.DEFAULT_HOST, "address to listen on"),
    Flag("--port", "web.port", _port, web.DEFAULT_PORT, "port to listen on"),
    Flag(
        "--db",
        "db_url",
        str,
        models.DEFAULT_DB_URL,
        "database URL: sqlite:///path/to/file.db or postgresql://user@host:port/dbname",
        metavar="URL",
    ),
    Flag(
        "--workers", "queue.workers", _positive_int, queue_defaults.DEFAULT_WORKERS, "worker actors"
    ),
    Flag(
        "--prefetch",
        "queue.prefetch",
        _positive_int,
        queue_defaults.DEFAULT_PREFETCH,
        "unfinished tasks each worker may hold; the rest wait in the database",
    ),
    Flag(
        "--simulated-work",
        "queue.simulated_work_seconds",
        _non_negative_float,
        queue_defaults.DEFAULT_SIMULATED_WORK_SECONDS,
        "seconds the built-in actions sleep to simulate work; 0 turns it off",
        metavar="SECONDS",
    ),
    Flag(
        "--max-attempts",
        "queue.max_attempts",
        _positive_int,
        queue_defaults.DEFAULT_MAX_ATTEMPTS,
        "attempts before a task is dead",
    ),
    Flag(
        "--retry-backoff",
        "queue.retry_backoff_seconds",
        _non_negative_float,
        queue_defaults.DEFAULT_RETRY_BACKOFF_SECONDS,
        "seconds: retry n waits RETRY_BACKOFF * 2^(n-1), plus up to 25%% jitter",
        metavar="SECONDS",
    ),
    Flag(
        "--lease",
        "queue.lease_seconds",
        _positive_float,
        queue_defaults.DEFAULT_LEASE_SECONDS,
        "seconds a claimed task stays leased without a heartbeat before another node may "
        "take it back",
        metavar="SECONDS",
    ),
    Flag(
        "--poll-interval",
        "queue.poll_interval_seconds",
        _positive_float,
        queue_defaults.DEFAULT_POLL_INTERVAL_SECONDS,
        "seconds between polls for due retries and other nodes' tasks",
        metavar="SECONDS",
    ),
    Flag(
        "--rescue-interval",
        "queue.rescue_interval_seconds",
        _positive_float,
        queue_defaults.DEFAULT_RESCUE_INTERVAL_SECONDS,
        "seconds between looks for running tasks whose process died or whose lease expired",
        metavar="SECONDS",
    ),
    Flag(
        "--shutdown-timeout",
        "queue.shutdown_timeout_seconds",
        _non_negative_float,
        queue_defaults.DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
        "seconds a stop waits for running tasks to finish",
        metavar="SECONDS",
    ),
    Flag(
        "--task-timeout",
        "queue.task_timeout_seconds",
        _non_negative_float,
        queue_defaults.DEFAULT_TASK_TIMEOUT_SECONDS,
        "seconds one attempt may run before it fails as timed out (a task's own 'timeout' "
        "wins); 0 means no limit",
        metavar="SECONDS",
    ),
    Flag(
        "--max-result-bytes",
        "queue.max_result_bytes",
        _positive_int,
        queue_defaults.DEFAULT_MAX_RESULT_BYTES,
        "largest result an action may return, as JSON; a bigger one fails the attempt, "
        "which is retried like any failure",
        metavar="BYTES",
    ),
    Flag(
        "--queues",
        "queue.queues",
        _queue_names,
        None,
        "comma-separated queues this node serves",
        shown_default="all of them",
        metavar="A,B",
    ),
    Flag(
        "--unknown-actions",
        "queue.unknown_actions",
        _unknown_actions,
        actors.UnknownActions.PROCESS,
        "what a task with an action no module registered does: 'process' runs the "
        "reference's catch-all (logged once per name), 'reject' refuses it with 400",
        metavar="POLICY",
    ),
    Flag(
        "--node-name",
        "queue.node_name",
        str,
        "",
        "name shown as a task's node",
        shown_default="host:pid",
        metavar="NAME",
    ),
    Flag(
        "--retain-completed",
        "queue.retain_completed_seconds",
        _duration,
        queue_defaults.DEFAULT_RETAIN_COMPLETED_SECONDS,
        "how long completed tasks are kept after they finished (90s, 12h, 7d); 0 keeps them "
        "for ever",
        shown_default="7d",
        metavar="DURATION",
    ),
    Flag(
        "--retain-dead",
        "queue.retain_dead_seconds",
        _duration,
        queue_defaults.DEFAULT_RETAIN_DEAD_SECONDS,
        "how long dead tasks are kept after they died; 0 keeps them for ever",
        shown_default="30d",
        metavar="DURATION",
    ),
    Flag(
        "--retain-canceled",
        "queue.retain_canceled_seconds",
        _duration,
        queue_defaults.DEFAULT_RETAIN_CANCELED_SECONDS,
        "how long canceled tasks are kept after they were canceled; 0 keeps them for ever",
        shown_default="7d",
        metavar="DURATION",
    ),
    Flag(
        "--webhook-secret-file",
        "queue.webhook_secret",
        _webhook_secret,
        None,
        "file holding the secret completion webhooks are signed with (whsec_ and base64, as "
        "Standard Webhooks writes it); without it, a task's 'notify' is refused",
        shown_default="none: no webhooks",
        metavar="PATH",
    ),
    Flag(
        "--webhook-allow-net",
        "queue.webhook_allow_nets",
        _networks,
        (),
        "comma-separated networks (CIDR) webhooks may reach although they are private, "
        "loopback or link-local (refused by default)",
        shown_default="none",
        metavar="CIDR,CIDR",
    ),
    Flag("--threads", "web.threads", _positive_int, web.DEFAULT_THREADS, "HTTP request threads"),
    Flag(
        "--max-waiters",
        "web.max_waiters",
        _non_negative_int,
        None,
        "requests that may wait at once for a task to finish (GET /tasks/ID?wait=S); past "
        "it they answer at once, with Retry-After",
        shown_default="half of --threads",
        metavar="N",
    ),
    Flag(
        "--max-abandoned-threads",
        "web.max_abandoned_threads",
        _non_negative_int,
        web.DEFAULT_MAX_ABANDONED_THREADS,
        "abandoned workers' threads (an attempt past its timeout) still running past which "
        "/readyz answers 503: the node wants a restart",
        metavar="N",
    ),
    Flag(
        "--drain-seconds",
        "web.drain_seconds",
        _non_negative_float,
        0.0,
        "after a stop signal, how long /readyz answers 503 (draining) while the node still "
        "serves, before it stops: time for a load balancer to take it out",
        metavar="SECONDS",
    ),
    Flag(
        "--max-body",
        "web.max_body_bytes",
        _positive_int,
        web.DEFAULT_MAX_BODY_BYTES,
        "largest request body accepted, in bytes",
        metavar="BYTES",
    ),
    Flag(
        "--request-timeout",
        "web.request_timeout_seconds",
        _positive_float,
        web.DEFAULT_REQUEST_TIMEOUT_SECONDS,
        "seconds from a request's first byte until its headers and body are all received; "
        "a slower client gets 408 and is disconnected",
        metavar="SECONDS",
    ),
    Flag(
        "--idle-timeout",
        "web.idle_timeout_seconds",
        _positive_float,
        web.DEFAULT_IDLE_TIMEOUT_SECONDS,
        "seconds a connection with no request under way stays open",
        metavar="SECONDS",
    ),
    Flag(
        "--max-client-connections",
        "web.max_client_connections",
        _non_negative_int,
        web.DEFAULT_MAX_CLIENT_CONNECTIONS,
        "connections one client address may hold open at once (past it: 503 and closed); 0: no cap",
        metavar="N",
    ),
    Flag(
        "--token-file",
        "web.tokens",
        _token_file,
        None,
        "file of the tokens that may call, one 'NAME ROLE SHA256-OF-SECRET' a line "
        "(run.py token NAME ROLE makes one); roles: read, write, admin",
        shown_default="none: only clients on this machine",
        metavar="PATH",
    ),
    Flag(
        "--insecure-no-auth",
        "web.insecure_no_auth",
        _boolean,
        False,
        "serve every client without a token, even on a --host other machines reach "
        "(warned about at start)",
        shown_default="off",
        switch=True,
    ),
    Flag(
        "--metrics-public",
        "web.metrics_public",
        _boolean,
        False,
        "serve /metrics without a token",
        shown_default="off",
        switch=True,
    ),
    Flag(
        "--allow-origin",
        "web.allow_origins",
        _origins,
        (),
        "comma-separated web origins (https://host[:port]) whose pages may call the API "
        "from a browser, with CORS; any other origin gets 403",
        shown_default="only the service's own",
        metavar="ORIGINS",
    ),
    Flag(
        "--allow-host",
        "web.allow_hosts",
        _host_names,
        (),
        "comma-separated Host names accepted while listening on loopback, besides "
        "localhost, 127.0.0.1 and [::1]; any other gets 421",
        shown_default="none",
        metavar="NAMES",
    ),
    Flag(
        "--tls-cert",
        "web.tls_cert",
        _readable_file,
        None,
        "PEM certificate (chain) file: serve HTTPS (with --tls-key)",
        shown_default="none: plain HTTP",
        metavar="PATH",
    ),
    Flag(
        "--tls-key",
        "web.tls_key",
        _readable_file,
        None,
        "PEM private key file of --tls-cert",
        shown_default="none",
        metavar="PATH",
    ),
    Flag(
        "--max-queued",
        "intake.max_queued",
        _positive_int,
        None,
        "cap on tasks waiting to run (queued + retrying); past it POST answers 503 with "
        "Retry-After",
        shown_default="unlimited",
        metavar="N",
    ),
    Flag(
        "--log-level",
        "log_level",
        _log_level,
        "INFO",
        f"one of {', '.join(LOG_LEVELS)}",
        metavar="LEVEL",
    ),
    Flag(
        "--log-sql",
        "log_sql",
        _boolean,
        False,
        "log every SQL statement (at DEBUG, on the logger 'peewee'): true or false",
        metavar="BOOL",
    ),
    Flag(
        "--measure-without",
        "measure_without",
        _measured_parts,
        (),
        "for the benchmark only: leave out writing task events (the history and the "
        "diagnosis go blank) and/or counting metrics, to measure what they cost; "
        "events, metrics or both, comma-separated",
        shown_default="none",
        metavar="PARTS",
    ),
)
ACTIONS_VARIABLE = ENV_PREFIX + "ACTIONS"
KNOWN_VARIABLES = {flag.variable for flag in FLAGS} | {ACTIONS_VARIABLE}


def _version() -> str:
    try:
        return metadata.version("taskqueue")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="A durable REST task queue. Each flag is also the environment variable "
        "TASKQUEUE_<FLAG> (e.g. TASKQUEUE_DB, TASKQUEUE_MAX_ATTEMPTS); a flag wins over its "
        "variable.",
    )
    parser.add_argument("--version", action="version", version=f"taskqueue {_version()}")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "migrate", "token"],
        default="serve",
        help="serve the API (default); run the migrations alone and exit; or 'token NAME "
        "ROLE': print a new token's secret and its line for --token-file",
    )
    parser.add_argument("token_args", nargs="*", metavar="NAME ROLE", help=argparse.SUPPRESS)
    for flag in FLAGS:
        shown = flag.shown_default if flag.shown_default is not None else flag.default
        if flag.switch:
            parser.add_argument(
                flag.flag,
                action="store_const",
                const=True,
                default=None,
                help=f"{flag.help} (default: {shown})",
            )
            continue
        parser.add_argument(
            flag.flag,
            type=flag.kind,
            default=None,  # None: not given, so the variable or the default applies
            metavar=flag.metavar,
            help=f"{flag.help} (default: {shown})",
        )
    parser.add_argument(
        "--actions",
        action="append",
        default=None,
        metavar="MODULE_OR_FILE",
        help="a module name or a path to a .py file to import for its @action functions "
        f"(repeatable; {ACTIONS_VARIABLE} takes a comma-separated list)",
    )
    return parser


class UsageError(Exception):
    """A setting has a bad value; the message names it."""


def settings_from(argv: list[str] | None, environ: Mapping[str, str]) -> Settings:
    """The settings: each flag's value if given, else its ``TASKQUEUE_`` variable, else its
    default. Raises ``SystemExit`` for a bad flag (argparse) and ``UsageError`` for a bad
    variable."""
    parser = build_parser()
    args = parser.parse_args(argv)
    token = None
    if args.command == "token":
        if len(args.token_args) != 2:
            parser.error("usage: run.py token NAME ROLE (ROLE: read, write or admin)")
        name, role_text = args.token_args
        try:
            token = (web.check_token_name(name), web.parse_role(role_text))
        except ValueError as exc:
            parser.error(f"token: {exc}")
    elif args.token_args:
        parser.error(f"unrecognized arguments: {' '.join(args.token_args)}")
    values: dict[str, Any] = {}
    for flag in FLAGS:
        given = getattr(args, flag.flag.lstrip("-").replace("-", "_"))
        if given is None and flag.variable in environ:
            try:
                given = flag.kind(environ[flag.variable])
            except (ValueError, argparse.ArgumentTypeError) as exc:
                raise UsageError(f"{flag.variable}={environ[flag.variable]!r}: {exc}") from None
        values[flag.target] = flag.default if given is None else given
    if args.actions is not None:
        actions = tuple(args.actions)
    else:
        actions = tuple(m for m in environ.get(ACTIONS_VARIABLE, "").split(",") if m)
    web_config = web.WebConfig(**_section(values, "web"))
    warnings = _unknown_variables(environ)
    if args.command == "serve":
        problem = web.exposure_problem(web_config) or web.tls_problem(web_config)
        if problem is not None:
            raise UsageError(problem)
        warning = web.exposure_warning(web_config)
        if warning is not None:
            warnings.append(warning)
    return Settings(
        command=args.command,
        db_url=values["db_url"],
        queue=actors.QueueConfig(**_section(values, "queue")),
        intake=models.IntakeConfig(**_section(values, "intake")),
        web=web_config,
        log_level=values["log_level"],
        log_sql=values["log_sql"],
        measure_without=values["measure_without"],
        actions=actions,
        warnings=tuple(warnings),
        token=token,
    )


def _section(values: dict[str, Any], section: str) -> dict[str, Any]:
    prefix = section + "."
    return {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name.startswith(TEST_ENV_PREFIX):
            continue
        if name in KNOWN_VARIABLES:
            continue
        close = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"unknown environment variable {name} is ignored{hint}")
    return warnings


# -- running -------------------------------------------------------------------------------


def setup_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level)
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig, but written by a thread of its own
        writer = LineWriter(sys.stderr)
        writer.setFormatter(LineFormatter())
        root.addHandler(writer)
        write_directly(writer)
    root.setLevel(level)
    for handler in root.handlers:
        handler.setLevel(level)
    # CherryPy's engine says INFO about every step of its start and stop.
    logging.getLogger("cherrypy.error").setLevel(max(level, logging.WARNING))
    logging.getLogger("cherrypy.access").setLevel(logging.WARNING)
    # Peewee logs every statement at DEBUG; only --log-sql wants that.
    logging.getLogger("peewee").setLevel(logging.DEBUG if settings.log_sql else logging.INFO)
    # Pykka logs every exception an ask hands back, with its traceback, at
    # INFO; the askers here report those themselves (a failed migration).
    logging.getLogger("pykka").setLevel(max(level, logging.WARNING))
    # Per-record extras nobody reads here, each costing time on every log line
    # (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def flush_logs() -> None:
    """Before ``os._exit``: every line logged so far is written."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def migrate_only(store: models.Store) -> int:
    try:
        applied = store.migrate()
    except models.MigrationError as exc:
        print(exc, file=sys.stderr)  # the message starts "migration failed: …"
        return EXIT_MIGRATION_FAILED
    print(
        f"migration complete: applied {applied or 'nothing'}, "
        f"schema version {models.LATEST_VERSION}"
    )
    return 0


def check_port(config: web.WebConfig) -> str | None:
    """Why the HTTP port cannot be bound, or None: asked before any worker starts."""
    try:
        infos = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve --host {config.host}: {exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
    return None


def serve(settings: Settings, store: models.Store) -> int:
    problem = check_port(settings.web)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_SERVER_FAILED
    if "events" in settings.measure_without:
        store.record_history = False
    if "metrics" in settings.measure_without:
        actors.metrics.COUNTING.on = False
    if settings.measure_without:
        logger.warning("measuring: left out %s", ", ".join(settings.measure_without))
    supervisor = actors.Supervisor.start(settings.queue, actors.registry, store)
    try:
        service = supervisor.ask(actors.Boot(), timeout=BOOT_TIMEOUT_SECONDS)
    except models.MigrationError as exc:
        logger.error("%s", exc)
        supervisor.stop()
        return EXIT_MIGRATION_FAILED

    # The web handlers wake this node's dispatcher after each accept (web/tasks.py),
    # so its listener hears only other processes' new tasks. New tasks this node's idle
    # workers can take are claimed with their insert and handed to them at once; the
    # other nodes hear only of the rest.
    start_here = actors.StartAtOnce(service.room, service.dispatcher, settings.queue)
    intake = models.Intake(store, settings.intake, tell_here=False, start_here=start_here)
    draining = threading.Event()
    liveness = web.Liveness(
        actors_alive=lambda: supervisor.is_alive() and service.dispatcher.is_alive(),
        draining=draining.is_set,
        abandoned_threads=service.abandoned_threads,
        max_abandoned_threads=settings.web.max_abandoned_threads,
    )
    gate = web.Gate(settings.web)
    try:
        app = web.build_app(
            store,
            intake,
            service.dispatcher,
            settings.web,
            settings.queue,
            actors.registry,
            service.board,
            liveness,
            gate,
        )
        web.start_server(app, settings.web)
    except OSError as exc:
        print(exc, file=sys.stderr)
        intake.close()
        supervisor.ask(actors.Shutdown(0))
        supervisor.stop()
        return EXIT_SERVER_FAILED

    stop_requested = threading.Event()

    def on_signal(signum, frame):
        if stop_requested.is_set():
            # A second signal: everything accepted is already committed, and
            # whatever runs now is taken back at the next start.
            logger.warning("second signal: exiting now")
            flush_logs()
            os._exit(0)
        # Set before the log line: a second signal may arrive while it is written.
        stop_requested.set()
        logger.info("stopping signal=%s", signal.Signals(signum).name)

    def on_hangup(signum, frame):
        reload_tokens(gate)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    # Only now: whoever waits for this line may stop us gracefully at once.
    logger.info(
        "listening host=%s port=%d db=%s",
        settings.web.host,
        settings.web.port,
        models.redact(settings.db_url),
    )
    while not stop_requested.wait(1.0):
        pass
    draining.set()  # /readyz answers 503 from now on
    if settings.web.drain_seconds:
        logger.info("draining seconds=%g", settings.web.drain_seconds)
        threading.Event().wait(settings.web.drain_seconds)  # a second signal still exits at once
    web.stop_server()  # no new requests; running ones finish and their commits land
    intake.close()
    supervisor.ask(actors.Shutdown(settings.queue.shutdown_timeout_seconds))
    supervisor.stop()
    logger.info("stopped")
    return 0


def reload_tokens(gate: web.Gate) -> None:
    """SIGHUP: read --token-file again. A file that cannot be used changes nothing."""
    try:
        table = gate.reload_tokens()
    except web.TokenFileError as exc:
        logger.error("token file not reloaded, the tokens in use stay: %s", exc)
        return
    if table is None:
        logger.warning("SIGHUP: no --token-file to reload")
    else:
        logger.info("token file reloaded tokens=%d file=%s", len(table.tokens), table.path)


def print_token(name: str, role: web.Role) -> int:
    """``run.py token NAME ROLE``: a new secret, and its line for the token file."""
    secret, line = web.new_token(name, role)
    print(f"secret: {secret}")
    print(f"line:   {line}")
    print(
        "Give the secret to the client, which sends it as 'Authorization: Bearer <secret>'; "
        "it is stored nowhere and cannot be shown again. Add the line to the file given "
        "to --token-file (it holds only the secret's SHA-256) and send the service SIGHUP "
        "(kill -HUP PID), which reads the file again."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        settings = settings_from(argv, os.environ)
    except UsageError as exc:
        print(f"run.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.command == "token":
        return print_token(*settings.token)
    setup_logging(settings)
    for warning in settings.warnings:
        logger.warning("%s", warning)
    try:
        actors.load_action_modules(list(settings.actions))
    except actors.ActionModuleError as exc:
        print(f"cannot load --actions: {exc}", file=sys.stderr)
        return EXIT_BAD_ACTIONS
    try:
        store = models.open_store(settings.db_url)
    except (ValueError, OSError) as exc:  # OSError: the SQLite folder cannot be made
        print(f"bad --db {settings.db_url}: {exc}", file=sys.stderr)
        return EXIT_MIGRATION_FAILED
    if settings.command == "migrate":
        return migrate_only(store)
    return serve(settings, store)


if __name__ == "__main__":
    sys.exit(main())
