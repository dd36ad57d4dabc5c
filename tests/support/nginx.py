"""nginx from Debian as "a real server nobody here wrote", on loopback ports in a temp prefix.

:func:`start_nginx` writes a config into a temporary directory (pid file, logs and temp paths
inside it; ``daemon off``, ``master_process off``), serves static files over HTTP and HTTPS
(trustme certificate for :data:`~tests.support.tls.DEFAULT_NAMES`) and stops nginx on exit.
Files served from ``/``: ``small.txt`` (1 KiB), ``index.html``, ``big.bin`` (50 MB), all from
:func:`tests.support.http.pattern` so a test can compare bytes without reading the file.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.http import pattern
from tests.support.timing import PROMPT_S
from tests.support.tls import TestCA

__all__ = ["BIG_SIZE", "NGINX_BINARY", "Nginx", "find_nginx", "start_nginx"]

NGINX_BINARY = "/usr/sbin/nginx"
BIG_SIZE = 50 * 1000 * 1000


@dataclass
class Nginx:
    """A running nginx: ``url(path, https=False, host=None)`` and the files it serves."""

    http_port: int
    https_port: int
    root: str
    files: dict[str, int] = field(default_factory=dict)  #: name -> size

    def url(self, path: str, *, https: bool = False, host: str = "127.0.0.1") -> str:
        """URL of ``path`` on the HTTP or HTTPS server, with ``host`` as the authority."""
        if https:
            return f"https://{host}:{self.https_port}{path}"
        return f"http://{host}:{self.http_port}{path}"

    @staticmethod
    def content(name: str) -> bytes:
        """The exact bytes of a served file."""
        return _CONTENT[name]()


_CONTENT = {
    "small.txt": lambda: pattern(1024),
    "index.html": lambda: b"<!doctype html><title>astrid</title><p>hello from nginx</p>\n",
    "big.bin": lambda: pattern(BIG_SIZE),
}


def find_nginx() -> str | None:
    """The nginx binary, or ``None`` when it is not installed."""
    if os.access(NGINX_BINARY, os.X_OK):
        return NGINX_BINARY
    return shutil.which("nginx")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within the deadline")


@contextmanager
def start_nginx(binary: str, ca: TestCA) -> Iterator[Nginx]:
    """Run nginx from ``binary`` until the block exits; everything lives in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="astrid-nginx-") as tmp:
        root = os.path.join(tmp, "www")
        os.makedirs(root)
        files = {}
        for name, make in _CONTENT.items():
            data = make()
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
            files[name] = len(data)
        cert, key = ca.write_cert(tmp)
        http_port, https_port = _free_port(), _free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(_CONFIG.format(tmp=tmp, root=root, cert=cert, key=key,
                                   http_port=http_port, https_port=https_port))
        proc = subprocess.Popen([binary, "-p", tmp, "-c", conf, "-e", f"{tmp}/error.log"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + PROMPT_S  # at once, unless the machine is busy
            _wait_listening(http_port, proc, deadline)
            _wait_listening(https_port, proc, deadline)
            yield Nginx(http_port, https_port, root, files)
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()


_CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    keepalive_requests 100000;
    sendfile on;
    server {{
        listen 127.0.0.1:{http_port};
        root {root};
    }}
    server {{
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {root};
    }}
}}
"""
