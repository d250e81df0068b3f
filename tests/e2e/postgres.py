"""A PostgreSQL server of a test's own, which it can stop and start under the running services (the
binaries of the pgserver wheel, as the embedded server). It listens on TCP like a production server,
and keeps its port across restarts, so the services' URLs stay valid."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pgserver
from pgserver.utils import ensure_user_exists

from crm_shared.testing import free_port

# PostgreSQL refuses to run as root: then it runs as the user pgserver creates for the embedded server.
_SYSTEM_USER = "pgserver" if os.geteuid() == 0 else None


class StoppablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log = data_dir / "log"
        self.running = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.data_dir.mkdir(parents=True)
        if _SYSTEM_USER is not None:
            entry = ensure_user_exists(_SYSTEM_USER)
            assert entry is not None
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        pgserver.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, user=_SYSTEM_USER, timeout=60
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}"
        pgserver.pg_ctl(
            ["-w", "-l", str(self.log), "-o", options, "start"], pgdata=self.data_dir, user=_SYSTEM_USER, timeout=60
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """`fast`: a clean shutdown that ends every session (a restart); `immediate`: a crash."""
        pgserver.pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=_SYSTEM_USER, timeout=60)
        self.running = False

    def cleanup(self) -> None:
        if self.running:
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
