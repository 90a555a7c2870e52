"""A loopback HTTP file server for download tests.

It serves files from a directory with ``Range`` support (206 + ``Content-Range``, 416 past the end) and
two switches that real servers exhibit: ``drop_after`` closes the connection after that many body bytes
(an interrupted transfer) and ``ignore_range`` answers 200 with the whole file. It records the path and
``Range`` header of every request so tests can assert what the client asked for.
"""
from __future__ import annotations

import re
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Request:
    path: str
    range: str | None


class FileServer:
    """Serve ``root`` on 127.0.0.1 (an ephemeral port unless ``port``) from a daemon thread until ``stop``."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.drop_after: int | None = None
        self.ignore_range = False
        self.requests: list[Request] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.files = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # socket timeout: a stuck client cannot hold a server thread forever

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        files: FileServer = self.server.files  # type: ignore[attr-defined]
        header = self.headers.get("Range")
        files.requests.append(Request(self.path, header))
        path = files.root / urllib.parse.unquote(self.path.lstrip("/"))  # "%20" names a space, as on real servers
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        size = len(data)
        match = _RANGE.match(header) if header and not files.ignore_range else None
        if match is None:
            self.send_response(200)
            body = data
        else:
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            body = data[start:end + 1]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if files.drop_after is not None:
            body = body[:files.drop_after]
            self.close_connection = True
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base-class signature)
        """Keep test output quiet."""
