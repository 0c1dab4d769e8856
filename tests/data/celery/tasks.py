"""A tiny Celery app for the `celery` kind's tests (tests/integration/kinds/celery.rs).

The broker and result backend come from the kind (`broker`, `result_backend`); the tasks
leave their marks in `$TASKS_OUT`, a directory the test reads.
"""

import os
import time
from datetime import timedelta
from pathlib import Path

from celery import Celery

app = Celery("tasks")
app.conf.broker_connection_retry_on_startup = True
app.conf.beat_schedule = {
    "every-day": {"task": "tasks.daily", "schedule": timedelta(days=1)},
}


def _out(name):
    return Path(os.environ.get("TASKS_OUT", ".")) / name


@app.task
def add(x, y):
    return x + y


@app.task
def daily():
    """The periodic task: one line per run, with the (possibly travelled) time."""
    with open(_out("daily.log"), "a") as f:
        f.write(f"{time.time()}\n")


@app.task
def slow(seconds, name):
    """Runs for `seconds`, marking its start and its end."""
    _out(f"{name}.started").write_text("")
    time.sleep(seconds)
    _out(f"{name}.done").write_text("")
    return name
