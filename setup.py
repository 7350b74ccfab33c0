from setuptools import setup

setup(
    name="taskqueue",
    version="0.1.0",
    description="A durable REST task queue on Pykka actors, CherryPy and Peewee",
    python_requires=">=3.11",
    packages=["actors", "web", "models"],
    # The dashboard's static files (web/dashboard.py serves them; no build step)
    package_data={
        "web": ["dashboard/*.html", "dashboard/*.css", "dashboard/*.js", "dashboard/*.svg"]
    },
    py_modules=["run"],
    install_requires=[
        "pykka>=4.0",
        # web/server.py replaces cheroot's connection manager and subclasses its
        # connection and CherryPy's WSGI server, as written for these releases.
        "cherrypy>=18.10,<19",
        "cheroot>=11.1,<12",
        "peewee>=3.17",
        "orjson>=3.9",
        "psycopg2-binary>=2.9",
        "prometheus-client>=0.20",
        # Cron: follows Debian's cron across daylight-saving changes (see models/cron.py).
        "cronsim>=2.8",
        "tzdata>=2024.1",  # time zones where the system has no zoneinfo database
    ],
    extras_require={
        "test": [
            "pytest>=8.0",
            "pytest-timeout>=2.2",
            "hypothesis>=6.100",
            "schemathesis>=4.0",  # tests/web/test_openapi.py uses the 4.x Python API
            "cryptography>=42",  # tests/system/test_tls.py makes a self-signed certificate
            # Exact: another ruff release may format differently, and CI checks the format.
            "ruff==0.17.6",
            # tests/dashboard drive Debian's chromium (apt, see .ci/run) with it; Playwright's
            # own browser download is never used
            "playwright>=1.45",
            # tests/web/test_peer_front.py imports the benchmark's stacks, which read it
            "psutil>=5.9",
        ],
        # Everything `python -m bench` imports or starts (wrk and redis-server come from apt).
        "bench": [
            "psutil>=5.9",  # process memory and CPU time, other load on the machine
            "huey>=2.5",
            "celery[redis]>=5.3",
            "procrastinate>=3.2",  # 3.2 added batch_defer, used for bulk POSTs; brings psycopg 3
            "py-spy>=0.3.14",  # only for --profile
        ],
    },
    entry_points={"console_scripts": ["taskqueue=run:main"]},
)
