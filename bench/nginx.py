"""nginx for the benchmarks: one worker on 127.0.0.1, serving a 12-byte
body at /small, a small JSON answer to any method at /api, 1 MB at /1mb
and 100 MB at /100mb; installed with apt-get
if missing."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SMALL_BODY = "hello world\n"  # 12 bytes
# What /api answers to any request, POSTs included (their bodies are read
# and dropped).
API_ANSWER = '{"ok":true}'


def ensure_nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "nginx-light"], check=True)
    return "/usr/sbin/nginx"


def start_nginx(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    nginx = ensure_nginx()
    folder.chmod(0o755)  # nginx's worker runs as an unprivileged user
    (folder / "www").mkdir(mode=0o755)
    (folder / "www" / "1mb").write_bytes(os.urandom(1024 * 1024))
    with (folder / "www" / "100mb").open("wb") as big:
        chunk = os.urandom(1024 * 1024)
        for _ in range(100):
            big.write(chunk)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(
        f"""{head(folder)}
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        root {folder}/www;
        location = /small {{ default_type text/plain; return 200 "{SMALL_BODY.strip()}\\n"; }}
        location = /api {{ default_type application/json; return 200 '{API_ANSWER}'; }}
    }}
}}
"""
    )
    for served in (folder / "www").iterdir():
        served.chmod(0o644)
    process = subprocess.Popen([nginx, "-c", str(config), "-p", str(folder)])
    wait_for(process, port)
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """nginx (see `start_nginx`) in a folder of its own for the block; its
    URL. Stopped, and its folder removed, after."""
    with tempfile.TemporaryDirectory() as scratch:
        process, base = start_nginx(Path(scratch))
        try:
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def start_nginx_tls(
    folder: Path, cert_file: Path, key_file: Path
) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    """nginx over TLS (HTTP/2 offered by ALPN) serving the 12-byte /small on
    two ports: the crawl's, which logs each request's connection number to
    the returned log (so a run's handshakes can be counted), and the API's,
    which logs nothing."""
    nginx = ensure_nginx()
    folder.chmod(0o755)
    crawl_port, api_port = free_port(), free_port()
    log = folder / "connections.log"
    tls = f"""
        ssl_certificate {cert_file};
        ssl_certificate_key {key_file};
        location = /small {{ default_type text/plain; return 200 "{SMALL_BODY.strip()}\\n"; }}"""
    config = folder / "nginx.conf"
    config.write_text(
        f"""{head(folder)}
    http2_max_concurrent_streams 256;
    ssl_session_cache shared:SSL:10m;
    log_format connection '$connection';
    server {{
        listen 127.0.0.1:{crawl_port} ssl http2;
        access_log {log} connection;{tls}
    }}
    server {{
        listen 127.0.0.1:{api_port} ssl http2;{tls}
    }}
}}
"""
    )
    process = subprocess.Popen([nginx, "-c", str(config), "-p", str(folder)])
    wait_for(process, crawl_port)
    wait_for(process, api_port)
    return process, crawl_port, api_port, log


def head(folder: Path) -> str:
    """What both configurations start with: one worker, files in `folder`,
    the opening of the http block (keep-alive for the whole run)."""
    return f"""
{same_user()}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;"""


def same_user() -> str:
    """In a user namespace that maps only this user (bench/dns.py runs in
    one), nginx's workers keep it: the user they would switch to is not
    mapped there."""
    fields = Path("/proc/self/uid_map").read_text().split()
    if os.geteuid() == 0 and fields[2:3] != ["4294967295"]:
        return "user root root;\n"
    return ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start")
