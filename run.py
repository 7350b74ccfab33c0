"""Run the task queue service: ``python run.py`` (serve) or ``python run.py migrate``.

Every flag can also be set as an environment variable ``TASKQUEUE_<NAME>``,
e.g. ``TASKQUEUE_PORT=9000`` or ``TASKQUEUE_DB=postgresql://...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import actors
import models
import web
from actors.config import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_PREFETCH,
    DEFAULT_RETRY_BACKOFF_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    DEFAULT_SIMULATED_WORK_SECONDS,
    DEFAULT_WORKERS,
)

ENV_PREFIX = "TASKQUEUE_"
BOOT_TIMEOUT_SECONDS = 120.0
EXIT_MIGRATION_FAILED = 2
EXIT_SERVER_FAILED = 3
EXIT_BAD_ACTIONS = 4

logger = logging.getLogger("taskqueue")


def _env(name: str, default, kind=str):
    variable = ENV_PREFIX + name.upper().replace("-", "_")
    value = os.environ.get(variable)
    if value is None:
        return default
    try:
        return kind(value)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        # A usage error, like a bad flag: named, without a traceback, exit 2.
        print(f"run.py: error: {variable}={value!r}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="A durable REST task queue. Each flag is also the environment variable "
        "TASKQUEUE_<FLAG> (e.g. TASKQUEUE_DB, TASKQUEUE_MAX_ATTEMPTS).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "migrate"],
        default="serve",
        help="serve the API (default), or run the migration alone and exit",
    )

    def option(flag, kind, default, help, **kwargs):
        name = flag.lstrip("-")
        parser.add_argument(flag, type=kind, default=_env(name, default, kind), help=help, **kwargs)

    option("--host", str, web.DEFAULT_HOST, "address to listen on")
    option("--port", int, web.DEFAULT_PORT, "port to listen on")
    option(
        "--db",
        str,
        models.DEFAULT_DB_URL,
        "database URL: sqlite:///path/to/file.db or postgresql://user@host:port/dbname",
    )
    option("--workers", _positive_int, DEFAULT_WORKERS, "worker actors")
    option(
        "--prefetch",
        _positive_int,
        DEFAULT_PREFETCH,
        "unfinished tasks each worker may hold; the rest wait in the database",
    )
    option(
        "--simulated-work",
        _non_negative_float,
        DEFAULT_SIMULATED_WORK_SECONDS,
        "seconds the built-in actions sleep to simulate work; 0 turns it off",
    )
    option("--max-attempts", _positive_int, DEFAULT_MAX_ATTEMPTS, "attempts before a task is dead")
    option(
        "--retry-backoff",
        _non_negative_float,
        DEFAULT_RETRY_BACKOFF_SECONDS,
        "seconds: retry n waits RETRY_BACKOFF * 2^(n-1), plus up to 25%% jitter",
    )
    option(
        "--lease",
        _positive_float,
        DEFAULT_LEASE_SECONDS,
        "seconds a claimed task stays leased without a heartbeat before another node "
        "may take it back",
    )
    option(
        "--poll-interval",
        _positive_float,
        DEFAULT_POLL_INTERVAL_SECONDS,
        "seconds between polls for due retries and other nodes' tasks",
    )
    option(
        "--shutdown-timeout",
        _non_negative_float,
        DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
        "seconds a stop waits for running tasks to finish",
    )
    option("--node-name", str, "", "name shown as a task's node; empty means host:pid")
    option("--threads", _positive_int, web.DEFAULT_THREADS, "HTTP request threads")
    option(
        "--max-body",
        _positive_int,
        web.DEFAULT_MAX_BODY_BYTES,
        "largest request body accepted, in bytes",
    )
    option(
        "--max-queued",
        _positive_int,
        None,
        "cap on tasks waiting to run (queued + retrying); past it POST answers 503 "
        "with Retry-After (default: unlimited)",
    )
    option("--log-level", str, "INFO", "DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--actions",
        action="append",
        default=[m for m in _env("actions", "").split(",") if m],
        help="module to import for its @action functions (repeatable; "
        "TASKQUEUE_ACTIONS takes a comma-separated list)",
    )
    return parser


def config_from(args: argparse.Namespace) -> actors.QueueConfig:
    return actors.QueueConfig(
        workers=args.workers,
        prefetch=args.prefetch,
        simulated_work_seconds=args.simulated_work,
        max_attempts=args.max_attempts,
        retry_backoff_seconds=args.retry_backoff,
        lease_seconds=args.lease,
        poll_interval_seconds=args.poll_interval,
        shutdown_timeout_seconds=args.shutdown_timeout,
        node_name=args.node_name,
    )


def migrate_only(db) -> int:
    try:
        applied = models.migrate(db)
    except models.MigrationError as exc:
        print(exc, file=sys.stderr)  # the message starts "migration failed: …"
        return EXIT_MIGRATION_FAILED
    print(
        f"migration complete: applied {applied or 'nothing'}, "
        f"schema version {models.LATEST_VERSION}"
    )
    return 0


def serve(args: argparse.Namespace, db) -> int:
    config = config_from(args)
    supervisor = actors.Supervisor.start(config, actors.registry, db)
    try:
        service = supervisor.ask(actors.Boot(), timeout=BOOT_TIMEOUT_SECONDS)
    except models.MigrationError as exc:
        logger.error("%s", exc)
        supervisor.stop()
        return EXIT_MIGRATION_FAILED
    intake = models.Intake(max_queued=args.max_queued)
    try:
        web.start_server(
            web.build_app(intake, service.dispatcher, args.max_body),
            args.host,
            args.port,
            args.threads,
        )
    except OSError as exc:
        logger.error("%s", exc)
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
            os._exit(0)
        logger.info("stopping signal=%s", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Only now: whoever waits for this line may stop us gracefully at once.
    logger.info("listening host=%s port=%d db=%s", args.host, args.port, models.redact(args.db))
    while not stop_requested.wait(1.0):
        pass
    web.stop_server()  # no new requests; running ones finish and their commits land
    intake.close()
    supervisor.ask(actors.Shutdown(config.shutdown_timeout_seconds))
    supervisor.stop()
    logger.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("cherrypy").setLevel(logging.WARNING)
    # Per-record extras nobody reads here, each costing time on every log line
    # (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Pykka logs every exception an ask hands back, with its traceback, at
    # INFO; the askers here report those themselves (a failed migration).
    logging.getLogger("pykka").setLevel(logging.WARNING)
    try:
        actors.load_action_modules(args.actions)
    except ImportError as exc:
        print(f"cannot load --actions module: {exc}", file=sys.stderr)
        return EXIT_BAD_ACTIONS
    try:
        db = models.open_database(args.db)
    except (ValueError, OSError) as exc:  # OSError: the SQLite folder cannot be made
        print(f"bad --db {args.db}: {exc}", file=sys.stderr)
        return EXIT_MIGRATION_FAILED
    if args.command == "migrate":
        return migrate_only(db)
    return serve(args, db)


if __name__ == "__main__":
    sys.exit(main())
