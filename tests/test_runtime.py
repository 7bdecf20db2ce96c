"""configure_runtime: worker threads and their priority, checked in fresh
processes (the runtime of this one is already running)."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from helpers import run_script

import fastio
from fastio.testing import Server

# Prints the worker count and the set of fastio threads' scheduling policies
# once a sleep and a fetch have run, then "fork child <exit code>" for a
# forked child that did the same and checked its threads' policy.
THREADS_AFTER_USE = """
    import asyncio, os, sys, time, warnings
    import fastio

    def fastio_threads():
        tids = []
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{{tid}}/comm") as comm:
                if comm.read().strip() == "fastio-worker":
                    tids.append(int(tid))
        return tids

    {configure}

    async def use():
        await fastio.sleep(0.001)
        # Only the worker threads exist yet: blocking threads come later. A
        # worker names itself once it first runs, which a loaded machine may
        # delay: wait (boundedly) for the count the test expects.
        deadline = time.monotonic() + 10
        while len(fastio_threads()) < int(os.environ["WORKERS"]) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        workers = len(fastio_threads())
        response = await fastio.fetch(os.environ["URL"] + "/bytes/10")
        assert len(response.content) == 10
        return workers

    workers = asyncio.run(use())
    policies = {{os.sched_getscheduler(tid) for tid in fastio_threads()}}
    print("workers", workers, "policies", sorted(policies))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:
        asyncio.run(use())
        policies = {{os.sched_getscheduler(tid) for tid in fastio_threads()}}
        os._exit(0 if policies == {{int(os.environ["POLICY"])}} else 1)
    _, status = os.waitpid(child, 0)
    print("fork child", os.waitstatus_to_exitcode(status))
"""


def run_with(configure: str, server: Server, policy: int, workers: int) -> str:
    """The script's output; its forked child must see ``policy`` too. The
    script waits up to 10 s for ``workers`` named threads to appear."""
    done = run_script(
        THREADS_AFTER_USE.format(configure=configure),
        env={"URL": server.url, "POLICY": str(policy), "WORKERS": str(workers)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and SCHED_IDLE")
def test_idle_priority_and_thread_count(server: Server) -> None:
    output = run_with(
        'fastio.configure_runtime(worker_threads=1, worker_priority="idle")',
        server,
        os.SCHED_IDLE,
        1,
    )
    assert f"workers 1 policies [{os.SCHED_IDLE}]" in output
    assert "fork child 0" in output


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_default_is_one_normal_worker_per_cpu(server: Server) -> None:
    cpus = len(os.sched_getaffinity(0))
    output = run_with("", server, os.SCHED_OTHER, cpus)
    assert "fork child 0" in output
    assert f"workers {cpus} policies [{os.SCHED_OTHER}]" in output


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_last_call_wins(server: Server) -> None:
    output = run_with(
        'fastio.configure_runtime(worker_priority="idle")\n'
        "    fastio.configure_runtime(worker_threads=3)",
        server,
        os.SCHED_OTHER,
        3,
    )
    assert f"workers 3 policies [{os.SCHED_OTHER}]" in output


def test_too_late_once_the_runtime_runs() -> None:
    done = run_script(
        """
        import asyncio, fastio
        async def main():
            await fastio.sleep(0.001)
        asyncio.run(main())
        try:
            fastio.configure_runtime(worker_threads=1)
        except RuntimeError as error:
            print("refused:", error)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "refused: fastio's runtime is already running" in done.stdout


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"worker_threads": "2"}, TypeError, "worker_threads must be an int or None, not str"),
        ({"worker_threads": True}, TypeError, "not bool"),
        ({"worker_threads": 2.0}, TypeError, "not float"),
        ({"worker_threads": 0}, ValueError, "between 1 and 1024, not 0"),
        ({"worker_threads": -1}, ValueError, "not -1"),
        ({"worker_threads": 1025}, ValueError, "not 1025"),
        ({"worker_threads": 2**70}, ValueError, "between 1 and 1024"),
        ({"worker_priority": 5}, TypeError, "worker_priority must be a str, not int"),
        ({"worker_priority": "low"}, ValueError, "'normal' or 'idle', not \"low\""),
    ],
)
def test_bad_arguments(arguments: dict[str, Any], error: type[Exception], words: str) -> None:
    # Checked before anything else, so this process's running runtime is
    # left as it is.
    with pytest.raises(error) as raised:
        fastio.configure_runtime(**arguments)
    assert words in str(raised.value)


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        fastio.configure_runtime(2)  # type: ignore[misc]
