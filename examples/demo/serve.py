"""Serve the cachemere demo site with the standard library: ``python examples/demo/serve.py``.

Run it from the repository root after ``pip install -e '.[demo]'``.  It
prints the URL to open, keeps its caches in a new temporary directory
(removed when it stops) unless ``--dir`` names one, and logs every request
that reaches it.  ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, as `python -m` from it would.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.demo.app import create_app


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request: the slow page does not hold up the others."""

    daemon_threads = True


class ThreadingWSGIServer6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _stop(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the server as Ctrl-C does, so the temporary directory is removed.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the cachemere demo site.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one)")
    parser.add_argument("--dir", type=Path, help="directory for the caches (default: a new temporary one)")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds of work on the slow page")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _stop)
    with ExitStack() as stack:
        temporary = args.dir is None
        if temporary:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cachemere-demo-")))
        else:
            directory = args.dir
        app = create_app(directory, slow_seconds=args.slow)
        server_class = ThreadingWSGIServer6 if ":" in args.host else ThreadingWSGIServer
        handler = QuietHandler if args.quiet else WSGIRequestHandler
        server = stack.enter_context(make_server(args.host, args.port, app, server_class, handler))
        port = server.server_address[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"cachemere demo: open http://{host}:{port}/", flush=True)
        removed = " (removed on exit)" if temporary else ""
        print(f"  caches in {directory}{removed}; Ctrl-C stops it", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("cachemere demo: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
