"""``python -m fastio.testing --port 0``: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from fastio.testing import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fastio.testing", description="fastio's test HTTP server"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(args.host, args.port) as server:
        print(server.url, flush=True)
        print(f"faults: {server.fault_url}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
