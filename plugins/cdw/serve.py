"""``cdw serve``: the warehouse's site over HTTP, read-only.

* ``/``: the overview (:mod:`cdw.overview`), computed from the audit trail on every request;
* ``/gx/load-<id>``: the GX Data Docs pages of one load;
* anything else: a file of the warehouse's site directory (:mod:`cdw.site`): load reports,
  their index, GX Data Docs, dbt docs. A directory serves its ``index.html``; there are no
  directory listings.

GET and HEAD only (any other method: 405); a path that leaves the site directory, by ``..``
or by a symbolic link, is refused (403), and so is a path holding a NUL or a backslash.
Bound to 127.0.0.1 unless ``--host`` says otherwise. The warehouse is read in sessions with
``default_transaction_read_only``: the site cannot write to it, whatever the login may.
"""

from __future__ import annotations

import mimetypes
import re
import shutil
import socket
import sys
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg

from cdw import overview, site, warehouse

READ_ONLY = "-c default_transaction_read_only=on"
_GX_OF_LOAD = re.compile(r"^/gx/load-(\d{1,18})$")
# the overview's own content: inline styles and SVG only (GX and dbt pages bring their own scripts)
_OVERVIEW_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'"


class Site:
    """The warehouse a server shows: its URL and, once the warehouse has one, its site directory."""

    def __init__(self, url: str):
        self.url = url
        self._root: Path | None = None

    def connect(self):
        return warehouse.connect(self.url, autocommit=True, options=READ_ONLY)

    def root(self, conn=None) -> Path | None:
        """The site directory; looked up again until the warehouse has an id (the first report makes it)."""
        if self._root is None:
            if conn is None:
                with self.connect() as own:
                    found = site.site_dir(own, create=False)
            else:
                found = site.site_dir(conn, create=False)
            self._root = found.resolve() if found is not None and found.is_dir() else None
        return self._root


class SiteHandler(BaseHTTPRequestHandler):
    server_version = "cdw-site"
    sys_version = ""
    site: Site  # set on the server's handler class

    # ---- methods

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._answer(body=True)

    def do_HEAD(self):  # noqa: N802
        self._answer(body=False)

    def _refuse_method(self):
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse_method  # noqa: N815

    # ---- routing

    def _answer(self, body: bool) -> None:
        raw_path = urlsplit(self.path).path
        path = unquote(raw_path)
        if "\x00" in path or "\\" in path or not path.startswith("/") or ".." in path.split("/"):
            return self._plain(HTTPStatus.FORBIDDEN, "refused: the path leaves the site", body)
        try:
            if path == "/":
                return self._overview(body)
            match = _GX_OF_LOAD.match(path)
            if match:
                return self._gx_of_load(int(match.group(1)), body)
            return self._file(path, body)
        except (warehouse.WarehouseError, psycopg.Error) as exc:
            return self._plain(HTTPStatus.SERVICE_UNAVAILABLE, f"the warehouse cannot be read: {exc}", body)

    def _overview(self, body: bool) -> None:
        with self.site.connect() as conn:
            page = overview.render(overview.collect(conn, self.site.root(conn)))
        self._html(page, body)

    def _gx_of_load(self, load_id: int, body: bool) -> None:
        with self.site.connect() as conn:
            row = conn.execute("select business_date from audit.load_runs_latest where load_id = %s",
                               (load_id,)).fetchone()
            root = self.site.root(conn)
        if row is None or root is None:
            return self._plain(HTTPStatus.NOT_FOUND, f"no load {load_id}", body)
        business_date: date = row[0]
        self._html(overview.render_gx_pages(root, load_id, business_date), body)

    def _file(self, path: str, body: bool) -> None:
        root = self.site.root()
        if root is None:
            return self._plain(HTTPStatus.NOT_FOUND, "no report written yet", body)
        target = (root / path.lstrip("/")).resolve()
        if not target.is_relative_to(root):  # a symbolic link out of the site
            return self._plain(HTTPStatus.FORBIDDEN, "refused: the path leaves the site", body)
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return self._plain(HTTPStatus.NOT_FOUND, "not found", body)
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/json", "application/javascript"):
            kind += "; charset=utf-8"
        with open(target, "rb") as f:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(target.stat().st_size))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if body:
                shutil.copyfileobj(f, self.wfile)

    # ---- responses

    def _html(self, page: str, body: bool) -> None:
        data = page.encode("utf-8")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")  # computed now: never a stale copy
        self.send_header("Content-Security-Policy", _OVERVIEW_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _plain(self, status: HTTPStatus, text: str, body: bool) -> None:
        data = (text + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for a browser's open connection


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, url: str | None = None) -> ThreadingHTTPServer:
    """A server of the configured warehouse's site on host:port (port 0: any free port)."""
    found = Site(url or warehouse.warehouse_url())
    with found.connect() as conn:  # fail now, with one line, if the warehouse cannot be read
        found.root(conn)
    handler = type("BoundSiteHandler", (SiteHandler,), {"site": found})
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), handler)


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(host: str, port: int, *, progress=lambda m: None) -> None:
    """Serve until interrupted (KeyboardInterrupt: Ctrl-C, or SIGTERM through the CLI's handler)."""
    server = make_server(host, port)
    try:
        root = server.RequestHandlerClass.site.root()
        progress(f"serving {root or 'the overview (no report written yet)'}, read-only; Ctrl-C stops it")
        print(server_url(server), flush=True)
        server.serve_forever()
    finally:
        server.server_close()
        sys.stdout.flush()
