"""Actions for the multi-node tests, loaded with ``--actions tests.system.cluster_actions``.

``record`` appends ``key pid`` to the file named by TASKQUEUE_TEST_EXECUTION_LOG
when it starts, so the log shows every execution, including one cut short by
kill -9, then sleeps ``data.seconds``.
"""

import os
import time

from actors import action


@action("record")
def record(data):
    line = f"{data['key']} {os.getpid()}\n".encode()
    fd = os.open(os.environ["TASKQUEUE_TEST_EXECUTION_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)  # one O_APPEND write: lines from several processes never interleave
    finally:
        os.close(fd)
    if data.get("seconds"):
        time.sleep(data["seconds"])  # the simulated work itself, not a wait for the system
    return {"key": data["key"], "pid": os.getpid()}
