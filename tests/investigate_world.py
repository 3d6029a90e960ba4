"""Fixture worlds for the investigation tests: logs, landing partitions, a git repo with dated commits.

Everything is built in tmp_path; git runs locally with a clean environment; no network.
"""

from __future__ import annotations

import calendar
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bot.topology import Topology, load_topology

STAGES = """
[pipeline]
name = "test"

[[pipeline.stages]]
name = "classify"
prompt_file = "p.md"
read = ["{log_root}/**"]

[[pipeline.stages]]
name = "investigate"
prompt_file = "p.md"
depends_on = ["classify"]
read = ["{log_root}/**", "{data_root}/**", "{repo_root}/**"]

[[pipeline.stages]]
name = "recommend"
prompt_file = "p.md"
depends_on = ["classify", "investigate"]

[jobs."*"]
logs = "{log_root}/{job}"
team = "data-platform"
"""

ORDERS = """
[jobs.orders_daily]
owners = ["U0123ABC"]
upstream = ["{data_root}/landing/orders"]
repo = "{repo_root}/etl-jobs"
code = ["dags/orders"]
config = "dags/orders/config.yaml"
"""

HEADER_CSV = "order_id,customer_id,amount\n1,42,9.5\n"
FAILED_AT = "2026-11-20 02:00:14"
RUN_ID = "scheduled__2026-11-19T02:00:00+00:00"


def ts(text: str) -> float:
    """'2026-11-20 02:00:14' (UTC) → epoch seconds."""
    return calendar.timegm(datetime.fromisoformat(text).replace(tzinfo=UTC).timetuple())


def airflow_log(error_lines: list[str], when: str = FAILED_AT, reading: str = "dt=2026-11-19") -> str:
    d, t = when.split(" ")
    pre = f"[{d}, {t} UTC]"
    return "\n".join([
        f"{pre} {{taskinstance.py:1157}} INFO - Dependencies all met for <TaskInstance: orders_daily.load "
        f"{RUN_ID} [queued]>",
        f"{pre} {{logging_mixin.py:151}} INFO - Reading /landing/orders/{reading}/",
        f"{pre} {{taskinstance.py:1937}} ERROR - Task failed with exception",
        "Traceback (most recent call last):",
        '  File "/opt/airflow/dags/orders/load.py", line 88, in load_orders',
        '    df["customer_id"] = df["customer_id"].astype("int64")',
        *error_lines,
        f"{pre} {{taskinstance.py:1400}} INFO - Marking task as UP_FOR_RETRY. dag_id=orders_daily",
    ]) + "\n"


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs, self.data, self.repos = root / "logs", root / "data", root / "repos"
        for d in (self.logs, self.data, self.repos):
            d.mkdir(parents=True, exist_ok=True)
        (root / "p.md").write_text("prompt\n")

    # ---------------------------------------------------------------- topology

    def topology(self, jobs: str = ORDERS) -> Topology:
        f = self.root / "topology.toml"
        f.write_text(STAGES + jobs)
        return load_topology(f, {"log_root": str(self.logs), "data_root": str(self.data),
                                 "repo_root": str(self.repos)})

    # ---------------------------------------------------------------- files

    def write(self, path: Path, content: str | bytes, mtime: str | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        if mtime:
            os.utime(path, (ts(mtime), ts(mtime)))
        return path

    def touch_dir(self, path: Path, mtime: str) -> None:
        os.utime(path, (ts(mtime), ts(mtime)))

    def log(self, job: str, name: str, text: str, mtime: str) -> Path:
        return self.write(self.logs / job / name, text, mtime)

    def partition(self, label: str, files: dict[str, str | bytes], mtime: str,
                  source: str = "landing/orders") -> Path:
        d = self.data / source / label
        for name, content in files.items():
            self.write(d / name, content, mtime)
        d.mkdir(parents=True, exist_ok=True)
        self.touch_dir(d, mtime)
        return d

    def parquet(self, columns: dict[str, list]) -> bytes:
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.table(columns), buf)
        return buf.getvalue()

    # ---------------------------------------------------------------- git

    @property
    def repo(self) -> Path:
        return self.repos / "etl-jobs"

    def git(self, *args: str, when: str | None = None, author: str = "Ana Dev") -> str:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "ana@example.com",
               "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": "ana@example.com"}
        if when:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.replace(" ", "T") + "+00:00"
        return subprocess.run(["git", "-C", str(self.repo), *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    def commit(self, files: dict[str, str], message: str, when: str, author: str = "Ana Dev") -> str:
        if not (self.repo / ".git").exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            self.git("init", "-q", "-b", "main")
        for name, content in files.items():
            self.write(self.repo / name, content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, when=when, author=author)
        return self.git("rev-parse", "HEAD").strip()

    def base_repo(self) -> None:
        """A repo whose last change to the job's code is long before the failure."""
        self.commit({"dags/orders/load.py": 'df["customer_id"] = df["customer_id"]\n',
                     "dags/orders/config.yaml": "source: /landing/orders\npassword=hunter2\n"},
                    "Initial orders DAG", when="2026-10-01 09:00:00")
