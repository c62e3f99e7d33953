"""A local Spark Thrift Server (HiveServer2 protocol) for the tests, the bench and trying LoopLens
on Spark SQL without a cluster.

``pip install pyspark`` ships the server class; it needs Java 17+. The server runs Spark in
``local[N]`` mode with its own warehouse folder, listens on 127.0.0.1 only, and is stopped by
its process id. It takes ~45 s to listen on a quiet machine. Settings that matter on one
machine (see docs/warehouse.md, "Spark SQL"):

- ``spark.sql.session.timeZone=UTC``: the contract's timestamps are naive UTC; Spark's
  TIMESTAMP is an instant rendered in the session time zone.
- ``spark.sql.shuffle.partitions=2``: the default 200 tasks per shuffle cost ~0.5 s per query
  on small data (a cluster keeps its own setting).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
START_TIMEOUT_S = 240.0


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing, or the server did not start (the message says which)."""


def spark_home() -> Path:
    """The installed ``pyspark`` package folder (it holds ``bin/spark-submit`` and the jars)."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable("pyspark is not installed (pip install pyspark)") from None
    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SparkServer:
    """A running server: ``url`` is its ``hive://`` SQLAlchemy URL; ``stop()`` ends it."""

    process: subprocess.Popen
    port: int
    folder: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"hive://127.0.0.1:{self.port}/default"

    def stop(self) -> None:
        """Stop the server (its whole process group) and wait for it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start(folder: Path, *, cores: int = 2, memory: str = "2g") -> SparkServer:
    """Start a Thrift server with its warehouse and metastore under ``folder``; wait until it
    answers ``SELECT 1``. Raises :class:`SparkUnavailable` with the log's tail otherwise."""
    home = spark_home()
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable("Java is not installed (Spark needs Java 17 or newer)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "thriftserver.log"
    conf = {
        "spark.hadoop.hive.server2.thrift.port": str(port),
        "spark.hadoop.hive.server2.thrift.bind.host": "127.0.0.1",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.driver.memory": memory,
    }
    args = [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS,
            "--master", f"local[{cores}]"]  # fmt: skip
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    args.append("spark-internal")
    env = {**os.environ, "SPARK_HOME": str(home)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = SparkServer(process, port, folder, log_path)
    try:
        _wait(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait(server: SparkServer) -> None:
    from sqlalchemy import create_engine, text

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SparkUnavailable(f"the Spark Thrift Server exited:\n{_tail(server.log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                pass
        except OSError:
            time.sleep(1)
            continue
        engine = create_engine(server.url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1")).all()
            return
        except Exception:  # noqa: BLE001 - listening but not serving yet
            time.sleep(1)
        finally:
            engine.dispose()
    raise SparkUnavailable(
        f"the Spark Thrift Server did not answer within {START_TIMEOUT_S:.0f} s:\n"
        f"{_tail(server.log_path)}"
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
