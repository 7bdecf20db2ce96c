"""Runs httpx's own test suite twice, against httpx's own transport and
with fastio's transport in every AsyncClient the suite builds without one
of its own; fails unless the tests that pass with httpx's transport pass
with fastio's, but for the differences written down below (each with why).

Only loopback is reachable: the runs are in a network namespace of their
own where the machine allows one (``unshare -rn``), Python's sockets are
held to loopback and to no name lookups besides localhost
(``loopback_only.py``), and the tests httpx marks ``network`` are
deselected.

    python tests/httpx_suite/run.py [--keep FOLDER]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ElementTree
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Tests that pass with httpx's transport and not with fastio's (shell
#: patterns of their ids), and why.
DIFFERENCES: dict[str, str] = {
    "*[[]trio[]]": "fastio runs on asyncio only: its awaitables complete through "
    "the asyncio event loop, which trio has not",
    "tests.client.test_proxies::test_proxies_environ[[]AsyncClient-*": "inspects "
    "httpcore's internals (transport._pool._proxy_url)",
    "tests.client.test_proxies::test_socks_proxy": "inspects httpcore's internals "
    "(isinstance of transport._pool)",
}

#: As DIFFERENCES, but which of the two outcomes comes is a race.
MAY_DIFFER: dict[str, str] = {
    "tests.test_timeouts::test_write_timeout[[]asyncio[]]": "the server answers before "
    "reading the body; hyper reads an answer that comes while the body is still being "
    "sent (as servers send 401 or 413 early) and returns it unless the write timeout "
    "fired first, where httpcore sends the whole body first and its write timeout fires",
}

#: Deselected in both runs where no network namespace is to be had: they
#: reach a private-range address or resolve names through the transport,
#: which only the namespace stops for fastio (its connections are made in Rust).
NEED_A_NAMESPACE = [
    "tests/test_timeouts.py::test_connect_timeout",
    "tests/client/test_proxies.py",
]


def explained(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in [*DIFFERENCES, *MAY_DIFFER])


def namespace_works() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "-rn", "sh", "-c", "ip link set lo up"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def fetch_suite(into: Path) -> Path:
    """httpx's source distribution for the installed version, unpacked."""
    version = importlib.metadata.version("httpx")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"httpx=={version}",
            "-d",
            str(into),
        ],
        check=True,
    )
    [archive] = into.glob("httpx-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / f"httpx-{version}"


def outcomes(suite: Path, plugins: list[str], isolated: bool, report: Path) -> dict[str, str]:
    """Each test's outcome (passed, failed, skipped) in one run."""
    # Only the plugin the suite itself uses (anyio's), not this project's.
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "anyio",
        "-m",
        "not network",
        f"--junitxml={report}",
        "-o",
        "addopts=",
        "tests",
    ]
    for plugin in plugins:
        command[3:3] = ["-p", plugin]
    if not isolated:
        command += [f"--deselect={test}" for test in NEED_A_NAMESPACE]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(suite)]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    if isolated:
        command = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    subprocess.run(command, cwd=suite, env=environment, check=False, timeout=1800)
    results: dict[str, str] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        results[name] = (
            "failed"
            if kinds & {"failure", "error"}
            else "skipped"
            if "skipped" in kinds
            else "passed"
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="httpx-suite-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        suite = fetch_suite(work)
        isolated = namespace_works()
        print(f"network namespace: {'yes' if isolated else 'no (tests needing one deselected)'}")
        own = outcomes(suite, ["loopback_only"], isolated, work / "httpcore.xml")
        fastio = outcomes(
            suite, ["loopback_only", "fastio_under_httpx"], isolated, work / "fastio.xml"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    passing = {name for name, outcome in own.items() if outcome == "passed"}
    lost = sorted(name for name in passing if fastio.get(name) != "passed")
    unexpected = [name for name in lost if not explained(name)]
    stale = sorted(
        pattern for pattern in DIFFERENCES if not any(fnmatch(name, pattern) for name in lost)
    )
    print(
        f"httpx's transport: {len(passing)} passed of {len(own)}; fastio's: "
        f"{sum(outcome == 'passed' for outcome in fastio.values())} passed; "
        f"{len(lost)} differ ({len(lost) - len(unexpected)} written down)"
    )
    for name in unexpected:
        print(f"UNEXPECTED: passes with httpx's transport, not with fastio's: {name}")
    for pattern in stale:
        print(f"STALE: written down as differing, but none does: {pattern}")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
