"""The security campaign's shared parts: a real exporter process, raw HTTP clients, certificates.

Every test here runs the exporter as users do (``python -m inference_exporter``) unless it
needs to reach inside, and bounds its own time: a hostile client or target never hangs
the suite.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ExporterProcess:
    """``python -m inference_exporter`` on a free port, its stderr kept in a file."""

    def __init__(
        self,
        workdir: Path,
        config: str,
        *args: str,
        scheme: str = "http",
        ready_kwargs: dict | None = None,
        preexec=None,
        wait: bool = True,
    ):
        self.workdir = workdir
        self.config = workdir / "config.yml"
        self.config.write_text(config)
        self.journal = workdir / "journal"
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = workdir / f"exporter-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        argv = [
            sys.executable,
            "-m",
            "inference_exporter",
            f"--config.file={self.config}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--journal.path={self.journal}",
            "--journal.fsync=never",
            "--no-collector.gpu",
            "--no-collector.container",
            "--no-collector.process",
            *args,
        ]
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=preexec)
        if wait:
            self.wait_healthy(**(ready_kwargs or {}))

    def wait_healthy(self, timeout: float = 30.0, **kwargs) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exporter exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/-/healthy", timeout=2, **kwargs).status_code in (200, 401):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"exporter did not answer within {timeout:g}s:\n{self.log()}")

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.post(self.url + path, **kwargs)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_bytes().decode("utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def raw_request(port: int, data: bytes, timeout: float = 5.0, read_until_close: bool = True) -> bytes:
    """Send raw bytes, return what comes back until the server closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if read_until_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed first (it refused the request outright)
            pass
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out


def statuses(answer: bytes) -> list[int]:
    """The status codes of every response in a raw answer, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) [A-Za-z]", answer)]


class Certificates:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate,
    made with the openssl command line."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_key = folder / "ca.crt", folder / "ca.key"
        self._openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=campaign CA",
            "-keyout", self.ca_key, "-out", self.ca,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        )  # fmt: skip
        self.server, self.server_key = self._issue("server", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self.client, self.client_key = self._issue("client", "extendedKeyUsage=clientAuth")

    def _issue(self, name: str, ext: str) -> tuple[Path, Path]:
        key, csr, crt = (self.folder / f"{name}.{x}" for x in ("key", "csr", "crt"))
        self._openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", key, "-out", csr
        )
        extfile = self.folder / f"{name}.ext"
        extfile.write_text(ext + "\n")
        self._openssl(
            "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
            "-days", "2", "-out", crt, "-extfile", extfile,
        )  # fmt: skip
        return crt, key

    @staticmethod
    def _openssl(*args) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)

    def client_context(self, with_cert: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if with_cert:
            ctx.load_cert_chain(str(self.client), str(self.client_key))
        return ctx


def bcrypt_hash(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
