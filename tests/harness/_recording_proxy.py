"""A reverse proxy that forwards every request to one upstream and logs what passed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass
class RecordingProxy:
    upstream: str
    seen: list[tuple[str, str]] = field(default_factory=list)
    """(method, path with query) of each request forwarded, in arrival order."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> RecordingProxy:
        proxy = self
        client = httpx.Client(base_url=self.upstream, timeout=30)
        self._client = client

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                with proxy.lock:
                    proxy.seen.append((self.command, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = client.request(self.command, self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                            "content-encoding"):  # fmt: skip
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.seen]

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()
