"""``python -m bench``: run the scenarios against the stacks, print the table, write the report."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import baseline, document, machine, pg, procs, report, scenarios, wrk

ALL_STACKS = ("ours", "huey", "celery", "procrastinate", "physical")

# git-ignored: raw numbers, partial reports (a --snapshot run writes to the original's)
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR", procs.REPO / "bench" / "results"))
# The --scale reports, kept in git: a full run includes the last ones, and they take long
# enough to redo that a new machine must not lose them (bench/results/ is not kept).
LARGE_DIR = Path(os.environ.get("BENCH_LARGE_DIR", procs.REPO / "bench" / "large"))
FULL_REPORT = Path(os.environ.get("BENCH_FULL_REPORT", procs.REPO / "BENCHMARKS.md"))
OTHER_LOAD_WARNING_CORES = report.OTHER_LOAD_LIMIT_CORES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark this task queue against its peers: Huey and Celery on SQLite, "
        "procrastinate and Celery on PostgreSQL, and the storage's own limit (issues 4 and 14).",
    )
    parser.add_argument(
        "--db",
        default="sqlite",
        help="storages to run on: sqlite (default), postgresql, or all (= sqlite,postgresql)",
    )
    parser.add_argument(
        "--pg-url",
        default=pg.SERVER_URL,
        metavar="URL",
        help="PostgreSQL server for the scratch bench_* databases (env BENCH_PG_URL; "
        f"default {pg.DEFAULT_SERVER_URL})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="scaled down (2 s enqueue, 2,000 drain, 50,000 rows): under a minute",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated scenarios to run, from: "
        + ", ".join(scenarios.SCENARIOS)
        + " (default: each storage's own set: "
        + "; ".join(f"{db}: {','.join(s)}" for db, s in scenarios.DEFAULT_SCENARIOS.items())
        + ")",
    )
    parser.add_argument(
        "--stacks",
        default=None,
        help="comma-separated stacks to run, from: "
        + ", ".join(ALL_STACKS)
        + " (each runs where it can: Huey on SQLite, procrastinate on PostgreSQL)",
    )
    parser.add_argument(
        "--scale",
        default=None,
        metavar="ROWS",
        help="instead of the scenarios: the large-table run of our service with ROWS tasks "
        "(e.g. 10m, 1m, 200k), on each --db; writes bench/large/SCALE-ROWS.md",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="FILE",
        help="compare this run with a saved results JSON (e.g. bench/results/latest.json) "
        "and print the ratio of every figure",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each scenario N times per stack (scale once) and report "
        "the medians; every run's numbers go into the report's last table",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for other programs to leave "
        f"the CPU (under {OTHER_LOAD_WARNING_CORES} cores); for shared machines",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"report to write (default: {FULL_REPORT.name} for a full run of "
        f"everything, else bench/results/BENCHMARKS-partial.md)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the databases go (default: a new temporary folder)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and every process's log"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="py-spy record our service during enqueue, bulk, drain and e2e into "
        "DIR, and print its hot spots",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (where "
        "Python code burns CPU) instead of every thread that is not idle",
    )
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="measure the committed code: run from a clean copy of HEAD "
        "(git archive), so that edits to the working tree during the run "
        "change nothing; the report still goes to this checkout",
    )
    parser.add_argument(
        "--ours-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra flag for run.py, repeatable (e.g. --ours-arg=--threads=32)",
    )
    return parser


def _databases(text: str) -> list[str]:
    if text == "all":
        return list(scenarios.DATABASES)
    return _choices(text, scenarios.DATABASES, "storage")


def _choices(text: str, allowed, what: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        raise SystemExit(
            f"unknown {what}: {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return chosen


def _wait_quiet(limit_seconds: float) -> None:
    """Wait, a second at a time and at most ``limit_seconds``, until others leave the CPU."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        with machine.OtherLoad() as other:
            time.sleep(1.0)
        if other.cores < OTHER_LOAD_WARNING_CORES:
            return
    print(f"    note: other programs still busy after {limit_seconds:g} s of waiting", flush=True)


def _run_snapshot(argv: list[str], output: Path) -> int:
    """Run this same command from a clean ``git archive HEAD`` copy, then delete the copy."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=procs.REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    source = Path(tempfile.mkdtemp(prefix="taskqueue-bench-src-"))
    try:
        archive = subprocess.Popen(
            ["git", "archive", "HEAD"], cwd=procs.REPO, stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", str(source)], stdin=archive.stdout, check=True)
        archive.stdout.close()
        if archive.wait() != 0:
            raise SystemExit("git archive HEAD failed")
        child_argv = [arg for arg in argv if arg != "--snapshot"]
        print(f"measuring commit {commit} from a clean copy in {source}", flush=True)
        env = {
            **os.environ,
            "BENCH_RESULTS_DIR": str(RESULTS_DIR.resolve()),
            "BENCH_LARGE_DIR": str(LARGE_DIR.resolve()),
            "BENCH_FULL_REPORT": str(output.resolve()),
            "BENCH_COMMIT": f"{commit} (clean copy of HEAD, --snapshot)",
            "BENCH_SNAPSHOT": "1",
        }
        env.pop("PYTHONPATH", None)
        code = (
            f"import sys; sys.path.insert(0, {str(source)!r}); "
            f"from bench.cli import main; sys.exit(main({child_argv!r}))"
        )
        # The copy's modules come first; the command keeps this directory for its paths.
        return subprocess.run([sys.executable, "-c", code], env=env).returncode
    finally:
        shutil.rmtree(source, ignore_errors=True)


def _run_scenario(
    ctx: scenarios.Context,
    scenario: str,
    names: list[str],
    args: argparse.Namespace,
    runs: dict,
    failures: list[str],
    started: float,
) -> None:
    """Every round of one scenario on ``ctx.db``; rounds go round the stacks, so that drift
    on the machine hits each alike."""
    rounds = 1 if scenario == "scale" else args.repeat
    for ctx.round in range(rounds):
        for name in names:
            if not scenarios.applies(scenario, name, ctx.db):
                continue
            label = f" (round {ctx.round + 1} of {rounds})" if rounds > 1 else ""
            print(
                f"[{time.monotonic() - started:5.0f}s] {ctx.db} {scenario}: {name}{label}",
                flush=True,
            )
            if args.wait_quiet:
                _wait_quiet(args.wait_quiet)
            try:
                with machine.OtherLoad() as other:
                    values = scenarios.run_one(ctx, scenario, name)
                values[f"{scenario}_other_load_cores"] = other.cores
                if other.cores > OTHER_LOAD_WARNING_CORES:
                    print(
                        f"    note: other work kept {other.cores:.2f} cores busy "
                        "meanwhile; these numbers are disturbed",
                        flush=True,
                    )
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one failure must not lose the rest
                failures.append(f"{ctx.db} {scenario} / {name}: {type(exc).__name__}: {exc}")
                print(f"    FAILED: {exc}", flush=True)
                traceback.print_exc()
                continue
            runs.setdefault(name, {}).setdefault(scenario, []).append(values)
            print("    " + ", ".join(f"{k}={v:,.1f}" for k, v in values.items()), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Children run in the repository (or its snapshot): paths must not depend on the cwd.
    for name in ("output", "workdir", "profile", "baseline"):
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    dbs = _databases(args.db)
    only = _choices(args.only, scenarios.SCENARIOS, "scenario") if args.only else None
    stack_names = _choices(args.stacks, ALL_STACKS, "stack") if args.stacks else None
    sizes = scenarios.QUICK if args.quick else scenarios.FULL
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    complete = (
        not args.quick
        and set(dbs) == set(scenarios.DATABASES)
        and only is None
        and stack_names is None
        and not args.ours_arg
        and args.profile is None
        and args.scale is None
    )
    output = (
        args.output or (FULL_REPORT if complete else RESULTS_DIR / "BENCHMARKS-partial.md")
    ).resolve()
    if args.snapshot:
        return _run_snapshot(sys.argv[1:] if argv is None else argv, output)
    if "postgresql" in dbs:
        why = pg.available(args.pg_url)
        if why is not None:
            raise SystemExit(f"PostgreSQL at {pg.redact(args.pg_url)} not reachable: {why}")
    # Children (seeders, stacks) read the server from the environment.
    pg.SERVER_URL = os.environ["BENCH_PG_URL"] = args.pg_url
    if not wrk.available():
        print(
            "note: wrk is not installed (apt-get install wrk); enqueue uses Python clients",
            file=sys.stderr,
        )

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="taskqueue-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = scenarios.Context(
        sizes=sizes,
        workdir=workdir,
        ours_args=tuple(args.ours_arg),
        profile_dir=args.profile,
        profile_gil=args.profile_gil,
        log=lambda line: print(line, flush=True),
        pg_url=args.pg_url,
        keep=args.keep,
    )
    if args.scale is not None:
        from bench import bigscale

        code = bigscale.main(ctx, dbs, args.scale, RESULTS_DIR, LARGE_DIR, args.wait_quiet)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return code
    runs: report.Runs = {db: {} for db in dbs}
    failures: list[str] = []
    started = time.monotonic()
    load_before = machine.load_average()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    print(f"benchmark ({'quick' if args.quick else 'full'}) in {workdir}", flush=True)
    try:
        for ctx.db in dbs:
            names = stack_names or list(scenarios.DEFAULT_STACKS[ctx.db])
            for scenario in only or scenarios.DEFAULT_SCENARIOS[ctx.db]:
                _run_scenario(ctx, scenario, names, args, runs[ctx.db], failures, started)
    except KeyboardInterrupt:
        print("interrupted: stopping every process started", file=sys.stderr)
        failures.append("interrupted")
    finally:
        procs.stop_all()
        ctx.drop_scratch()
    elapsed = time.monotonic() - started
    results, disturbed = report.summarize(runs)

    info = machine.describe(workdir, load_before, "postgresql" in dbs)
    tables = {}
    for db in dbs:
        tables[db] = (
            report.table(results, sizes, db, disturbed),
            report.cost_table(results, db, disturbed),
        )
        print(f"\n{report.DB_LABELS[db]}\n")
        print(report.plain(tables[db][0]))
        if tables[db][1]:
            print("\nCPU per task, µs, user + system:")
            print(report.plain(tables[db][1]))
    print(
        "\n(ratios: above 1× means ours is better, for throughput and for latency alike;"
        f"\n {report.DISTURBED.strip()} = every round of it ran while other programs used "
        "the CPU)"
    )
    for failure in failures:
        print(f"FAILED {failure}")
    if args.baseline is not None:
        print(f"\nagainst the baseline {args.baseline}:")
        print(report.plain(baseline.compare(results, baseline.load(args.baseline))))

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = {
        "machine": info,
        "quick": args.quick,
        "databases": dbs,
        "sizes": sizes.__dict__,
        "results": results,
        "runs": runs,
        "repeat": args.repeat,
        "failures": failures,
        "elapsed_seconds": elapsed,
        "ours_args": args.ours_arg,
    }
    raw_name = "latest.json" if output == FULL_REPORT.resolve() else "latest-partial.json"
    (RESULTS_DIR / raw_name).write_text(json.dumps(raw, indent=2, default=str))
    output.parent.mkdir(parents=True, exist_ok=True)
    large_runs = {
        label: path.read_text()
        for label in document.LARGE_RUNS
        if (path := LARGE_DIR / f"SCALE-{label}.md").exists()
    }
    output.write_text(
        document.render(tables, runs, info, sizes, args, failures, elapsed, large_runs)
    )
    print(f"wrote {output} in {elapsed:.0f}s")

    if args.profile is not None:
        from bench import hotspots

        suffix = "-gil" if args.profile_gil else ""
        for scenario in ("enqueue", "bulk", "drain", "e2e"):
            path = args.profile / f"{scenario}{suffix}.txt"
            if path.exists():
                print(f"\nhot spots of our service during {scenario} ({path}):")
                print(hotspots.summary(path))

    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0
