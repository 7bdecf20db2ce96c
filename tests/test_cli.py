"""The `fastio` command, run as a subprocess against the embedded test server
(running in this test process) and pytest-httpbin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fastio._fastio import Server
from fastio.cli import safe_file_name, url_lines

FASTIO = [sys.executable, "-m", "fastio"]


def run(
    *arguments: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FASTIO, *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def in_shell(fastio_arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs ``fastio <fastio_arguments>`` through bash, for pipes and
    process substitution."""
    return subprocess.run(
        ["bash", "-c", f"{sys.executable} -m fastio {fastio_arguments}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- fastio fetch --------------------------------------------------------------------


def test_urls_as_arguments_give_one_record_each(server: Server) -> None:
    urls = [server.url + f"/bytes/{size}" for size in (0, 10, 1000)]
    done = run("fetch", *urls)
    assert done.returncode == 0, done.stderr
    got = {record["url"]: record for record in records(done.stdout)}
    assert set(got) == set(urls)
    for size, url in zip((0, 10, 1000), urls, strict=True):
        record = got[url]
        assert record["status"] == 200
        assert record["reason"] == "OK"
        assert record["final_url"] == url
        assert record["size"] == size
        assert record["headers"]["content-length"] == str(size)
        assert record["elapsed"] >= 0
        assert record["error"] is None
        assert record["error_type"] is None
    assert "3 URLs" in done.stderr  # the summary


CLI_PEAK = """
import resource, subprocess, sys
urls = "\\n".join(["{url}/gzip-bomb/1073741824"] * 40)
done = subprocess.run(
    [sys.executable, "-m", "fastio", "fetch", "-i", "-", "-q", *{options!r}],
    input=urls, capture_output=True, text=True, timeout=100,
)
sys.stdout.write(done.stdout)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
"""


@pytest.mark.parametrize(
    ("options", "budget_mib"),
    [
        # No body is held without --body or --save-dir: each is counted.
        ([], 128),
        # With --body, by the default bytes in flight (1 GiB) and one body's limit.
        (["--body"], 1024 + 256 + 128),
        (["--body", "--max-bytes-in-flight", str(64 << 20), "--max-body-size", str(32 << 20)], 256),
    ],
)
def test_bombs_get_their_records_within_a_memory_budget(
    server: Server, options: list[str], budget_mib: int
) -> None:
    # 40 gzip bombs of 1 GiB (1 MB on the wire): before, the CLI passed 4 GiB
    # within seconds and wrote no record.
    done = subprocess.run(
        [sys.executable, "-c", CLI_PEAK.format(url=server.url, options=options)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *lines, last = done.stdout.splitlines()
    code, peak_mib = map(int, last.split())
    assert code == 1  # some failed: every one, as too large
    assert [record["error_type"] for record in records("\n".join(lines))] == ["BodyTooLarge"] * 40
    assert peak_mib <= budget_mib


def test_without_body_a_record_has_the_size_of_a_body_not_kept(server: Server) -> None:
    done = run("fetch", server.url + "/gzip-bomb/5000000", server.url + "/bytes/1234")
    sizes = sorted(record["size"] for record in records(done.stdout))
    assert sizes == [1234, 5_000_000]


def test_input_file_skips_comments_and_blank_lines(server: Server, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"# a comment\n\n{server.url}/json\n   {server.url}/text  \n# {server.url}/never\n"
    )
    done = run("fetch", "-i", str(listing), "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(record["url"] for record in records(done.stdout)) == [
        server.url + "/json",
        server.url + "/text",
    ]
    assert done.stderr == ""  # -q: no summary
    assert server.request_count("/never") == 0


def test_urls_from_stdin(server: Server) -> None:
    lines = "".join(f"{server.url}/bytes/{number}\n" for number in range(200))
    done = run("fetch", "-i", "-", "-c", "16", stdin=lines)
    assert done.returncode == 0, done.stderr
    assert sorted(record["size"] for record in records(done.stdout)) == list(range(200))


def test_failures_are_records_and_exit_1(server: Server, closed_port: int) -> None:
    refused = f"http://127.0.0.1:{closed_port}/"
    done = run("fetch", server.url + "/json", refused, "not a url", "--timeout", "5")
    assert done.returncode == 1
    by_url = {record["url"]: record for record in records(done.stdout)}
    assert by_url[refused]["error_type"] == "ConnectError"
    assert refused in by_url[refused]["error"]
    assert by_url["not a url"]["error_type"] == "InvalidURL"
    assert by_url[server.url + "/json"]["status"] == 200
    assert "ConnectError: 1" in done.stderr
    assert "InvalidURL: 1" in done.stderr


def test_fail_status_counts_4xx_and_5xx(server: Server) -> None:
    urls = [server.url + "/status/404", server.url + "/status/200"]
    assert run("fetch", *urls).returncode == 0
    failing = run("fetch", "--fail-status", *urls)
    assert failing.returncode == 1
    assert "4xx: 1" in failing.stderr


def test_request_options_reach_the_server(server: Server) -> None:
    done = run(
        "fetch",
        server.url + "/echo",
        "-X",
        "DELETE",
        "-H",
        "X-One: 1",
        "-H",
        "X-Two: two words",
        "--body",
    )
    assert done.returncode == 0, done.stderr
    (record,) = records(done.stdout)
    echo = json.loads(record["text"])
    assert echo["method"] == "DELETE"
    assert echo["headers"]["x-one"] == ["1"]
    assert echo["headers"]["x-two"] == ["two words"]


def test_json_and_data_bodies_make_posts(server: Server) -> None:
    done = run("fetch", server.url + "/echo", "--json", '{"q": [1, 2]}', "--body")
    assert done.returncode == 0, done.stderr
    (record,) = records(done.stdout)
    echo = json.loads(record["text"])
    assert (record["method"], echo["method"]) == ("POST", "POST")
    assert echo["body"] == '{"q":[1,2]}'
    assert echo["headers"]["content-type"] == ["application/json"]
    done = run("fetch", server.url + "/echo", "-X", "PUT", "--data", "a=b c", "--body")
    echo = json.loads(records(done.stdout)[0]["text"])
    assert (echo["method"], echo["body"]) == ("PUT", "a=b c")


def test_requests_file_gives_each_line_its_own_request(server: Server, tmp_path: Path) -> None:
    echo = server.url + "/echo"
    lines = [
        json.dumps({"method": "POST", "url": echo, "json": {"n": 1}, "headers": {"X-N": "1"}}),
        json.dumps({"url": echo, "params": {"p": "2"}}),
        "# a comment",
        "not json",
        json.dumps({"url": echo, "nope": 1}),
    ]
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(lines) + "\n")
    done = run("fetch", "--requests", str(requests), "--body")
    assert done.returncode == 1  # the two bad lines
    by_method: dict[Any, list[dict[str, Any]]] = {}
    for record in records(done.stdout):
        by_method.setdefault(record["method"], []).append(record)
    posted = json.loads(by_method["POST"][0]["text"])
    assert (posted["body"], posted["headers"]["x-n"]) == ('{"n":1}', ["1"])
    got = json.loads(by_method["GET"][0]["text"])
    assert got["query"] == {"p": "2"}
    errors = sorted(record["error"] for record in by_method[None])
    assert "line 4 of --requests" in errors[0]
    assert "line 5 of --requests: unknown fields ['nope']" in errors[1]
    piped = run("fetch", "--requests", "-", stdin=lines[1] + "\n")
    assert records(piped.stdout)[0]["status"] == 200


def test_binary_bodies_are_base64(server: Server) -> None:
    done = run("fetch", server.url + "/bytes/100", "--body")
    (record,) = records(done.stdout)
    assert "text" not in record
    assert len(__import__("base64").b64decode(record["body_b64"])) == 100


def test_no_follow_retries_timeout_and_body_limit(server: Server) -> None:
    done = run(
        "fetch",
        server.url + "/redirect/1",
        server.url + "/flaky/cli?fail=1",
        server.url + "/delay/10",
        server.url + "/bytes/5000",
        "--no-follow",
        "--retries",
        "1",
        "--timeout",
        "0.5",
        "--max-body-size",
        "1000",
    )
    by_url = {record["url"].split("/", 3)[3]: record for record in records(done.stdout)}
    assert by_url["redirect/1"]["status"] == 302
    assert by_url["flaky/cli?fail=1"]["status"] == 200
    assert by_url["delay/10"]["error_type"] == "TimeoutError"
    assert by_url["bytes/5000"]["error_type"] == "BodyTooLarge"
    assert done.returncode == 1


def test_output_file_and_resume(server: Server, tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    first = [server.url + f"/bytes/{number}" for number in range(5)]
    assert run("fetch", "-o", str(output), *first).returncode == 0
    server.reset_counts()
    more = first + [server.url + f"/bytes/{number}" for number in range(5, 8)]
    done = run("fetch", "-o", str(output), "--resume", *more)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert sorted(record["size"] for record in records(output.read_text())) == list(range(8))
    # Only the three new URLs were fetched the second time.
    assert sum(server.request_counts().values()) == 3


def test_save_dir_names_files_safely(server: Server, tmp_path: Path) -> None:
    saved = tmp_path / "bodies"
    urls = [
        server.url + "/bytes/7",
        server.url + "/bytes/7?x=../../etc/passwd",
        server.url + "/text?value=%2e%2e%2f",
    ]
    assert run("fetch", "--save-dir", str(saved), *urls).returncode == 0
    files = sorted(path for path in saved.iterdir())
    assert len(files) == 3  # no collisions
    assert all(path.parent == saved and not path.name.startswith(".") for path in files)
    assert (saved / safe_file_name(urls[0])).read_bytes() == b"0123456"


def test_safe_file_names() -> None:
    name = safe_file_name("http://host/../../etc/passwd")
    assert "/" not in name
    assert not name.startswith(".")
    assert safe_file_name("http://a/x") != safe_file_name("http://a/x?1")
    assert safe_file_name("http://host/") != safe_file_name("https://host/")
    assert list(url_lines(["# c\n", "\n", " u \n"])) == ["u"]


def test_against_httpbin(httpbin: Any) -> None:
    done = run("fetch", httpbin.url + "/get", httpbin.url + "/status/418", "--body")
    by_status = {record["status"]: record for record in records(done.stdout)}
    assert set(by_status) == {200, 418}
    assert json.loads(by_status[200]["text"])["url"].endswith("/get")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give URLs"),
        (["--resume", "http://127.0.0.1/"], "--resume needs -o"),
        (["-H", "no colon", "http://127.0.0.1/"], "Name: value"),
        (["-c", "0", "http://127.0.0.1/"], "at least 1"),
        (["--timeout", "-1", "http://127.0.0.1/"], "positive"),
        (["-i", "/no/such/file"], "No such file"),
        (["--proxy", "ftp://proxy", "http://127.0.0.1/"], "proxy"),
        (["--frobnicate"], "unrecognized"),
        (["--json", "{oops", "http://127.0.0.1/"], "--json is not JSON"),
        (["--json", "1", "--data", "x", "http://127.0.0.1/"], "not allowed with"),
        (["--requests", "-", "http://127.0.0.1/"], "no URLs or -i"),
    ],
)
def test_bad_usage_exits_2_with_a_message(arguments: list[str], message: str) -> None:
    done = run("fetch", *arguments)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_ctrl_c_flushes_what_finished_and_exits_130(server: Server, tmp_path: Path) -> None:
    output = tmp_path / "partial.jsonl"
    urls = [server.url + f"/bytes/{number}" for number in range(20)]
    urls += [server.url + "/delay/30"] * 20
    with subprocess.Popen(
        [*FASTIO, "fetch", "-o", str(output), "-c", "40", *urls],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        stderr = interrupt_after_records(process, output, 20)
    assert process.returncode == 130
    assert "interrupted" in stderr
    assert sorted(record["size"] for record in records(output.read_text())) == list(range(20))


def interrupt_after_records(process: subprocess.Popen[str], output: Path, count: int) -> str:
    """Sends SIGINT once ``output`` holds ``count`` records; returns stderr."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if output.exists() and len(output.read_text().splitlines()) >= count:
            break
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    assert time.monotonic() - sent < 5
    return stderr


# --- fastio demo and fastio serve ----------------------------------------------------


def test_demo_runs_and_prints_its_table() -> None:
    done = run("demo", "-n", "500", "-c", "20")
    assert done.returncode == 0, done.stderr
    assert "fastio fetch_all" in done.stdout
    for column in ("req/s", "p50", "p99", "errors"):
        assert column in done.stdout


def test_demo_compares_with_the_peers_it_finds() -> None:
    done = run("demo", "-n", "300", "-c", "10", "--compare")
    assert done.returncode == 0, done.stderr
    for peer in ("aiohttp", "httpx"):
        # Installed in the test environment or not, the demo says which.
        assert peer in done.stdout


def test_console_script_and_version() -> None:
    script = Path(sys.executable).parent / "fastio"
    command = [str(script)] if script.exists() else FASTIO
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("fastio ")


def test_serve_answers_until_interrupted() -> None:
    with subprocess.Popen(
        [*FASTIO, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            done = run("fetch", url + "/json", "--body")
            assert json.loads(records(done.stdout)[0]["text"])["name"] == "fastio"
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)


def test_the_pytest_plugin_fixture(fastio_server: Server) -> None:
    done = run("fetch", fastio_server.url + "/json")
    assert records(done.stdout)[0]["status"] == 200
    assert fastio_server.request_count("/json") == 1


def test_subprocess_environment_is_plain() -> None:
    # The CLI tests run fastio as `python -m fastio` from this interpreter.
    assert os.path.basename(sys.executable).startswith("python")


# --- input that is not a plain file, and --resume ------------------------------------


def test_a_pipe_as_input_is_read_once_and_whole(server: Server) -> None:
    urls = "".join(f"{server.url}/bytes/{size}\n" for size in range(1, 6))
    from_stdin = run("fetch", "-i", "/dev/stdin", stdin=urls)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert len(records(from_stdin.stdout)) == 5
    substituted = in_shell(f'fetch -i <(printf "{urls}")')
    assert substituted.returncode == 0, substituted.stderr
    assert len(records(substituted.stdout)) == 5


def test_a_named_fifo_as_input(server: Server, tmp_path: Path) -> None:
    fifo = tmp_path / "urls"
    os.mkfifo(fifo)
    fetching = subprocess.Popen(
        [*FASTIO, "fetch", "-i", str(fifo)], stdout=subprocess.PIPE, text=True
    )
    with open(fifo, "w") as writer:
        writer.write(f"{server.url}/bytes/3\n{server.url}/bytes/4\n")
    output, _ = fetching.communicate(timeout=60)
    assert fetching.returncode == 0
    assert len(records(output)) == 2


def test_resume_matches_urls_however_they_are_written(server: Server, tmp_path: Path) -> None:
    host = server.url.removeprefix("http://")
    spellings = [
        f"http://{host}",  # recorded with a trailing /
        f"HTTP://{host.upper()}/bytes/2",
        f"http://{host}/a/../bytes/3",
        f"http://{host}/bytes/4?q=a b",
    ]
    output = tmp_path / "records.jsonl"
    listing = tmp_path / "urls.txt"
    listing.write_text("\ufeff" + "\n".join(spellings) + "\n", encoding="utf-8")
    first = run("fetch", "-i", str(listing), "-o", str(output))
    assert first.returncode == 0, first.stderr  # the BOM did not break the first URL
    before = sum(server.request_counts().values())
    again = run("fetch", "-i", str(listing), "-o", str(output), "--resume")
    assert again.returncode == 0, again.stderr
    assert sum(server.request_counts().values()) == before
    assert len(records(output.read_text())) == 4


def test_resume_survives_a_cut_short_and_a_foreign_line(server: Server, tmp_path: Path) -> None:
    output = tmp_path / "records.jsonl"
    output.write_text('[1, 2]\n"text"\n{"url": "http://cut-sh', encoding="utf-8")
    done = run("fetch", "-o", str(output), "--resume", server.url + "/bytes/5")
    assert done.returncode == 0, done.stderr
    lines = output.read_text().splitlines()
    # The cut-short line is gone: every line of the file is JSON again.
    assert lines[:2] == ["[1, 2]", '"text"']
    assert json.loads(lines[2])["url"] == server.url + "/bytes/5"
    assert len(lines) == 3


def test_a_run_killed_mid_record_resumes_into_a_valid_file(server: Server, tmp_path: Path) -> None:
    output = tmp_path / "records.jsonl"
    urls = [server.url + f"/bytes/{size}" for size in range(3)]
    first = run("fetch", "-o", str(output), *urls[:2])
    assert first.returncode == 0, first.stderr
    # SIGKILL in the middle of writing the second record: half a line.
    whole = output.read_bytes()
    output.write_bytes(whole[: whole.index(b"\n") + 1 + 20])
    done = run("fetch", "-o", str(output), "--resume", *urls)
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in output.read_text().splitlines()]  # strict JSONL
    assert sorted(record["url"] for record in got) == sorted(urls)


def test_a_full_disk_is_said_with_an_exit_code_of_its_own(server: Server) -> None:
    done = run("fetch", "-o", "/dev/full", server.url + "/bytes/5")
    assert done.returncode == 74
    assert "cannot write the records: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr
    piped = in_shell(f"fetch {server.url}/bytes/5 > /dev/full")
    assert piped.returncode == 74
    assert "Traceback" not in piped.stderr


# --- as a shell user finds it --------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["fetch", "-X", "GE T", "http://127.0.0.1/"], "not an HTTP method"),
        (["serve", "--port", "80000"], "port from 0 to 65535"),
    ],
)
def test_bad_values_are_usage_errors_not_tracebacks(arguments: list[str], message: str) -> None:
    done = run(*arguments)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_on_a_taken_port_says_so_in_one_line(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    done = run("serve", "--port", port)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "cannot listen" in done.stderr


def test_a_closed_pipe_ends_fetch_quietly(server: Server) -> None:
    urls = " ".join(f"{server.url}/bytes/{size}" for size in range(1, 400))
    done = in_shell(f"fetch -q {urls} | head -1")
    assert len(records(done.stdout)) == 1
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr


def test_fail_status_records_the_error(server: Server, tmp_path: Path) -> None:
    done = run("fetch", "--fail-status", server.url + "/status/404", server.url + "/bytes/1")
    by_url = {record["url"]: record for record in records(done.stdout)}
    failed = by_url[server.url + "/status/404"]
    assert failed["error_type"] == "HTTPStatusError"
    assert "404" in failed["error"]
    assert by_url[server.url + "/bytes/1"]["error_type"] is None
    assert "errors (HTTPStatusError: 1)" in done.stderr
    assert "2 URLs" in done.stderr


def test_save_dir_records_name_their_files(server: Server, tmp_path: Path) -> None:
    done = run("fetch", "--save-dir", str(tmp_path), server.url + "/bytes/9")
    [record] = records(done.stdout)
    assert Path(record["body_file"]).read_bytes() == b"012345678"


def test_every_option_has_help_and_its_default() -> None:
    import argparse

    from fastio.cli import parser

    [commands] = [
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, (name, action.dest)
        shown = command.format_help()
        assert "show this help" in shown
    fetch_help = commands.choices["fetch"].format_help()
    assert "(default: 100)" in fetch_help
    assert "(default: 30.0)" in fetch_help
