"""A loopback webhook receiver: every POST body kept, answered 200 with an empty body.

One helper for the worker tests (``from webhook import Hook``: tests/ is on pytest's path, as for ``pg``) and for
bench/workers_bench.py (which puts tests/ on ``sys.path``); both count messages and their repeats. Not in
``sellerguard/``: it is a test and benchmark stand-in, never shipped behaviour. (tests/test_daemon.py's
``FakeSlack`` answers like Slack, ``ok`` and JSON bodies parsed: a different contract.)
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Hook:
    """``url`` takes POSTs; ``bodies`` holds each raw body in arrival order, ``idempotency`` counts each message's
    Idempotency-Key (the outbox sends one per message: a key seen twice is a message delivered twice)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.idempotency: Counter[str] = Counter()  # sellerguard's Idempotency-Key header: one per message
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.idempotency[self.headers.get("Idempotency-Key") or ""] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep test and bench output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def repeats(self) -> int:
        """Messages received more than once (the same Idempotency-Key twice or more): an alert sent twice."""
        return sum(n - 1 for key, n in self.idempotency.items() if key and n > 1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
