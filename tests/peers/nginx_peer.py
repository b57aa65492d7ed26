"""nginx in front of an HTTP/1.1 upstream, on three listeners: HTTP/2 over
TLS (ALPN h2 and http/1.1), h2c with prior knowledge, and plain HTTP/1.1.

Everything nginx writes (pid file, logs, temp files) goes under a folder of
its own, so it runs as any user.  Responses and request bodies pass through
unbuffered: a stream reaches the client as the upstream sends it.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import tempfile
from typing import Iterator

import attrs

from ._process import PeerMissing, PeerStartError, free_port, port_accepts, running, wait_until
from .certs import PeerCerts

__all__ = ["NGINX_INSTALL_HINT", "NginxOptions", "NginxPeer", "find_nginx", "nginx_version", "run_nginx"]

NGINX_INSTALL_HINT = "install it with `bash tools/peers.sh` (Debian's nginx-light)"

HOST = "127.0.0.1"


def find_nginx() -> str | None:
    # /usr/sbin is not on every user's PATH, and that is where Debian puts it.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_version(binary: str) -> tuple[int, int, int]:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    if found is None:
        raise RuntimeError(f"cannot tell the version of {binary}: {out.stderr.strip()!r}")
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch)


@attrs.frozen
class NginxOptions:
    """What a test may change per instance.

    ``keepalive_requests`` is how many requests one client connection
    carries; on HTTP/2 nginx then sends GOAWAY, which is how a test gets a
    GOAWAY with streams in flight.  ``client_max_body_size`` is in nginx's
    syntax (``"64m"``; ``"0"`` for no limit).
    """

    max_concurrent_streams: int = 128
    keepalive_requests: int = 1000
    client_max_body_size: str = "64m"
    keepalive_timeout: str = "75s"
    upstream_keepalive: int = 32


@attrs.frozen
class NginxPeer:
    """A running nginx.  ``ca_file`` (or ``certs.client_context()``) is what
    a client trusts to reach ``tls_port``."""

    tls_port: int
    h2c_port: int
    plain_port: int
    certs: PeerCerts
    options: NginxOptions
    pid: int
    directory: pathlib.Path
    version: tuple[int, int, int]
    host: str = HOST

    @property
    def ca_file(self) -> pathlib.Path:
        return self.certs.ca_file

    @property
    def tls_base_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}/v1"

    @property
    def h2c_base_url(self) -> str:
        return f"http://{self.host}:{self.h2c_port}/v1"

    @property
    def plain_base_url(self) -> str:
        return f"http://{self.host}:{self.plain_port}/v1"

    @property
    def error_log(self) -> pathlib.Path:
        return self.directory / "error.log"

    @property
    def access_log(self) -> pathlib.Path:
        return self.directory / "access.log"


def _user_directive() -> str:
    # A master running as root hands its workers to "nobody", which cannot
    # write our temp folder; keep them as the user who started the tests.
    # Not root: nginx ignores the directive (with a warning), so omit it.
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


def _listen(port: int, *, tls: bool, http2: bool, version: tuple[int, int, int]) -> str:
    flags = " ssl" if tls else ""
    if not http2:
        return f"listen {HOST}:{port}{flags};"
    # 1.25.1 moved HTTP/2 from a listen flag to its own directive.
    if version >= (1, 25, 1):
        return f"listen {HOST}:{port}{flags};\n        http2 on;"
    return f"listen {HOST}:{port}{flags} http2;"


def render_config(
    directory: pathlib.Path,
    *,
    upstream: tuple[str, int],
    ports: tuple[int, int, int],
    certs: PeerCerts,
    options: NginxOptions,
    version: tuple[int, int, int],
) -> str:
    tls_port, h2c_port, plain_port = ports
    up_host, up_port = upstream
    location = """
        location / {
            proxy_pass http://upstream_app;
            proxy_http_version 1.1;
            # Keep-alive to the upstream needs the client's Connection
            # header dropped.
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
        }"""
    tls = f"""
        ssl_certificate {certs.cert_file};
        ssl_certificate_key {certs.key_file};
        ssl_protocols TLSv1.2 TLSv1.3;"""
    d = directory
    return f"""
{_user_directive()}
worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{
    worker_connections 1024;
}}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size {options.client_max_body_size};
    keepalive_requests {options.keepalive_requests};
    keepalive_timeout {options.keepalive_timeout};
    http2_max_concurrent_streams {options.max_concurrent_streams};
    upstream upstream_app {{
        server {up_host}:{up_port};
        keepalive {options.upstream_keepalive};
    }}
    server {{
        {_listen(tls_port, tls=True, http2=True, version=version)}{tls}{location}
    }}
    server {{
        {_listen(h2c_port, tls=False, http2=True, version=version)}{location}
    }}
    server {{
        {_listen(plain_port, tls=False, http2=False, version=version)}{location}
    }}
}}
"""


def _all_accept(ports: tuple[int, ...]) -> bool:
    return all(port_accepts(port) for port in ports)


@contextlib.contextmanager
def run_nginx(
    upstream: tuple[str, int],
    certs: PeerCerts,
    options: NginxOptions | None = None,
    *,
    attempts: int = 3,
) -> Iterator[NginxPeer]:
    """Start nginx in front of ``upstream`` (host, port) and stop it on exit.

    Raises ``PeerMissing`` without an nginx binary and
    ``PeerStartError`` when it does not come up (after ``attempts`` port
    races lost, or at once for any other failure).
    """
    binary = find_nginx()
    if binary is None:
        raise PeerMissing(f"nginx is not installed: {NGINX_INSTALL_HINT}")
    version = nginx_version(binary)
    options = NginxOptions() if options is None else options
    for attempt in range(attempts):
        with tempfile.TemporaryDirectory(prefix="peer-nginx-") as tmp:
            directory = pathlib.Path(tmp)
            ports = (free_port(), free_port(), free_port())
            config = directory / "nginx.conf"
            config.write_text(
                render_config(
                    directory, upstream=upstream, ports=ports, certs=certs, options=options, version=version
                )
            )
            log = directory / "error.log"
            # -e: the error log used before the configuration is read (else
            # a root path that a plain user cannot open).
            argv = [binary, "-p", str(directory), "-c", str(config), "-e", str(log)]
            stdout = directory / "stdout.log"
            with running(argv, log=stdout) as process:
                try:
                    wait_until(
                        functools.partial(_all_accept, ports),
                        process=process,
                        what="nginx",
                        log=[log, stdout],
                    )
                except PeerStartError as exc:
                    if exc.address_in_use and attempt + 1 < attempts:
                        continue
                    raise
                yield NginxPeer(
                    tls_port=ports[0],
                    h2c_port=ports[1],
                    plain_port=ports[2],
                    certs=certs,
                    options=options,
                    pid=process.pid,
                    directory=directory,
                    version=version,
                )
                return
    raise AssertionError("unreachable")  # pragma: no cover
