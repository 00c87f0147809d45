"""The model settings of step 1, each reaching the services that read it; the settings no
service reads; the host's resources. Against the stand-in of the stack's compose file, read
back with the real `docker-compose config`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import compose_config, read_env, run_wizard, setup_ok, stack_project

MODEL = "Qwen/Qwen3-Embedding-4B"
CACHE_READERS = ("vecpipe", "webui", "worker")


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return stack_project(tmp_path)


setup = setup_ok


def refused(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-port-check", "--doc-dir", "docs", *args],
        cwd=project,
        env=env,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in project.iterdir()) == ["docker-compose.yml", "docs"]
    return run.stderr


def cached(cache: Path, model: str) -> None:
    """A copy of `model` in the Hugging Face layout download-models.sh leaves."""
    owner, name = model.split("/")
    snapshot = cache / "hub" / f"models--{owner}--{name}" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")


def test_each_model_setting_reaches_every_service_that_reads_it(stack: Path) -> None:
    setup(
        stack,
        "--doc-dir",
        "docs",
        "--embedding-model",
        MODEL,
        "--quantization",
        "int8",
        "--model-cache",
        "hf cache",
        "--gpu-memory-max",
        "0.5",
    )

    cache = stack / "hf cache"
    assert cache.is_dir()  # created: Docker would make it root's
    if os.geteuid() == 0:  # made the containers' (1000:1000), who download into it
        assert (cache.stat().st_uid, cache.stat().st_gid) == (1000, 1000)
    values = read_env(stack)
    assert values["ENABLE_LOCAL_LLM"] == "false"  # a CPU deployment runs no local LLM
    services = compose_config(stack)["services"]
    for name in CACHE_READERS:
        environment = services[name]["environment"]
        assert environment["DEFAULT_EMBEDDING_MODEL"] == MODEL, name
        assert environment["DEFAULT_QUANTIZATION"] == "int8", name
        assert environment["HF_HUB_OFFLINE"] == "false", name
        sources = {v["target"]: v.get("source") for v in services[name]["volumes"]}
        assert sources["/app/.cache/huggingface"] == str(stack / "hf cache"), name
    vecpipe = services["vecpipe"]["environment"]
    assert vecpipe["ENABLE_LOCAL_LLM"] == "false"
    assert vecpipe["GPU_MEMORY_MAX_PERCENT"] == "0.5"

    shown = run_wizard(["show"], cwd=stack, env={"COLUMNS": "200"}).stdout
    [row] = [line for line in shown.splitlines() if "Quantization" in line]
    assert "int8 (a CPU deployment runs float32: the stack applies it on a GPU only)" in row

    setup(stack)  # a re-run keeps every one
    again = read_env(stack)
    for key in ("DEFAULT_EMBEDDING_MODEL", "DEFAULT_QUANTIZATION", "HF_CACHE_DIR"):
        assert again[key] == values[key]


def test_model_settings_in_the_json_report(stack: Path) -> None:
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-port-check", "--doc-dir", "docs", "--json"],
        cwd=stack,
    )
    settings = json.loads(run.stdout)["settings"]
    assert settings["gpu_memory_max"] == 0.9 and settings["offline"] is False
    assert settings["environment"] == "production"
    assert settings["secrets"]["INTERNAL_API_KEY"].startswith("•••••••• (64 characters")


def test_model_settings_from_the_environment_and_the_answers_file(stack: Path) -> None:
    (stack / "answers.yaml").write_text("gpu_memory_max: 0.75\nembedding_model: a-b/c.d_e\n")
    setup(
        stack,
        "--doc-dir",
        "docs",
        "--answers",
        "answers.yaml",
        env={"WIZARD_QUANTIZATION": "float32"},
    )
    values = read_env(stack)
    assert values["GPU_MEMORY_MAX_PERCENT"] == "0.75"
    assert values["DEFAULT_EMBEDDING_MODEL"] == "a-b/c.d_e"
    assert values["DEFAULT_QUANTIZATION"] == "float32"


def test_the_local_llm_and_the_gpu_share_on_a_gpu_deployment(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--deployment", "gpu", "--local-llm", "true")
    vecpipe = compose_config(stack)["services"]["vecpipe"]["environment"]
    assert vecpipe["ENABLE_LOCAL_LLM"] == "true"
    assert vecpipe["GPU_MEMORY_MAX_PERCENT"] == "0.9"


def test_the_local_llm_on_a_cpu_deployment_is_refused(stack: Path) -> None:
    stderr = refused(stack, "--deployment", "cpu", "--local-llm", "true")
    assert "--local-llm: true needs a GPU deployment" in stderr


def test_offline_mode_needs_the_model_in_the_cache(stack: Path) -> None:
    stderr = refused(stack, "--offline", "true", "--embedding-model", MODEL)
    cache = stack / "models"
    assert f"--offline: offline mode needs {MODEL} in the model cache, and {cache}" in stderr
    assert "models--Qwen--Qwen3-Embedding-4B/snapshots/<revision>/" in stderr

    cached(cache, MODEL)
    setup(stack, "--doc-dir", "docs", "--offline", "true", "--embedding-model", MODEL)
    for name in CACHE_READERS:
        assert compose_config(stack)["services"][name]["environment"]["HF_HUB_OFFLINE"] == "true"


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--environment", "staging", "is not one of production, development"),
        ("--embedding-model", "no-owner", "is not a Hugging Face model id; use owner/name"),
        ("--embedding-model", "a/b/c", "is not a Hugging Face model id"),
        ("--quantization", "int4", "use float32, float16 or int8"),
        ("--model-cache", "/srv/a:b", "without ':' or '$'"),
        ("--offline", "maybe", "is not a yes/no value"),
        ("--local-llm", "2", "is not a yes/no value"),
        ("--gpu-memory-max", "1.5", "use a fraction from 0.1 to 1.0"),
        ("--gpu-memory-max", "90%", "use a fraction from 0.1 to 1.0"),
        ("--gpu-memory-max", "0.05", "use a fraction from 0.1 to 1.0"),
    ],
)
def test_bad_input_for_each_new_setting_names_its_flag(
    stack: Path, flag: str, value: str, says: str
) -> None:
    stderr = refused(stack, flag, value)
    assert f"{flag}: " in stderr and says in stderr


def checks(project: Path) -> dict[str, list[dict[str, str]]]:
    run = run_wizard(["check", "--json", "--db-timeout", "2"], cwd=project)
    rows: dict[str, list[dict[str, str]]] = {}
    for row in json.loads(run.stdout)["checks"]:
        rows.setdefault(row["name"], []).append(row)
    return rows


def test_check_lists_no_setting_of_ours_unread_and_warns_about_dead_keys(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    reach = checks(stack)["settings reach"]
    unread = next(r["detail"] for r in reach if r["detail"].startswith("read by no service"))
    for key in ("ENVIRONMENT", "INTERNAL_API_KEY", "DEFAULT_EMBEDDING_MODEL", "HF_CACHE_DIR"):
        assert key not in unread
    assert all(r["status"] == "ok" for r in reach)

    with (stack / ".env").open("a") as env:
        env.write("WEBUI_WORKERS=4\nMODEL_MAX_MEMORY_GB=8\nCOMPOSE_PROJECT_NAME=mine\n")
    [warning] = [r for r in checks(stack)["settings reach"] if r["status"] == "warn"]
    assert "keys added to .env reach no service" in warning["detail"]
    assert "WEBUI_WORKERS, MODEL_MAX_MEMORY_GB;" in warning["detail"]
    assert "COMPOSE_PROJECT_NAME" not in warning["detail"]  # compose reads it itself


def test_check_compares_the_hosts_memory_with_the_reservations(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    found = checks(stack)
    [memory] = found["host memory"]
    [cache, *_] = found["host resources"]
    assert memory["status"] == "ok"
    assert "the services reserve 3.0 GiB, their limits add up to 6.0 GiB" in memory["detail"]
    assert cache["detail"].startswith(f"model cache {stack / 'models'}: ")

    compose = stack / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("memory: 2G\n", "memory: 100000G\n", 1))
    [memory] = checks(stack)["host memory"]
    assert memory["status"] == "warn"
    assert "less than the 100001.0 GiB the services reserve" in memory["detail"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_check_warns_about_a_model_cache_the_containers_cannot_write(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    cache = stack / "models"
    os.chown(cache, 0, 0)
    cache.chmod(0o755)

    [warning] = [r for r in checks(stack)["host resources"] if r["status"] == "warn"]
    assert warning["detail"] == (
        f"model cache {cache}: the stack's containers run as 1000:1000 and cannot write there, "
        f"so no model can be downloaded; run sudo chown -R 1000:1000 {cache}"
    )
