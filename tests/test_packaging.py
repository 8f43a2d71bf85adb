"""The container packaging and the CI workflow, checked by reading them (no Docker engine needed).

docker-compose.yml and .github/workflows/ci.yml are parsed with PyYAML, the Dockerfile as plain text.
The CI command is taken from the README, whose fenced test command is the single source of truth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
COMMAND_PREFIX = "(command -v chromium"
DATA_DIR = "/var/lib/hotline-api"
# ${VAR:-default} / ${VAR-default} / ${VAR}: compose's interpolation, evaluated with nothing set
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


def _yaml(relative: str) -> dict[Any, Any]:
    data = yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{relative} is not a YAML mapping"
    return data


def _interpolate(value: str) -> str:
    return INTERPOLATION.sub(lambda m: m.group("default") or "", value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either compose form (mapping, or list of NAME=value)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): _interpolate(str(v)) for k, v in env.items()}


def _healthcheck(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test")
    assert test, "no healthcheck test"
    return " ".join(test) if isinstance(test, list) else str(test)


def readme_test_command() -> str:
    """The README's test command: the fenced-code line that starts with COMMAND_PREFIX."""
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.fail("README.md is missing; it must hold the test command in a fenced code block")
    found: list[str] = []
    in_fence = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif in_fence and line.startswith(COMMAND_PREFIX):
            found.append(line.rstrip())
    if not found:
        pytest.fail(f"README.md has no fenced code line starting with {COMMAND_PREFIX!r}")
    assert len(set(found)) == 1, f"README.md has different test commands: {found}"
    return found[0]


def compose() -> dict[str, Any]:
    return _yaml("docker-compose.yml")


def test_compose_services_and_startup_order() -> None:
    services = compose()["services"]
    assert {"db", "api"} <= set(services)
    api = services["api"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api.get("restart") == "unless-stopped"
    # short syntax ("8000:8000", "127.0.0.1:8000:8000") or long syntax ({target: 8000, ...})
    targets = [
        int(p["target"]) if isinstance(p, dict) else int(str(p).rsplit(":", 1)[-1].split("/")[0])
        for p in api["ports"]
    ]
    assert 8000 in targets


def test_compose_database_url_points_at_db_service() -> None:
    services = compose()["services"]
    db_env = _environment(services["db"])
    api_env = _environment(services["api"])
    url = make_url(api_env["HOTLINE_DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db"
    assert url.database == db_env["POSTGRES_DB"]
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]
    assert api_env["HOTLINE_DATA_DIR"] == DATA_DIR
    assert services["db"]["image"].startswith("postgres:")


def test_compose_healthchecks() -> None:
    services = compose()["services"]
    assert "pg_isready" in _healthcheck(services["db"])
    assert "/readyz" in _healthcheck(services["api"])


def test_compose_data_lives_in_named_volumes() -> None:
    spec = compose()
    declared = set(spec.get("volumes") or {})
    mounts: dict[str, str] = {}
    for name in ("db", "api"):
        for volume in spec["services"][name]["volumes"]:
            source, target = (
                (volume["source"], volume["target"])
                if isinstance(volume, dict)
                else str(volume).split(":")[:2]
            )
            # a named volume, declared at the top level (not a host path, not anonymous)
            assert source in declared, f"{name}: {source!r} is not a top-level named volume"
            mounts[target] = source
    assert DATA_DIR in mounts
    # PostgreSQL 18's image keeps its data under /var/lib/postgresql/18/docker and wants the volume here
    assert "/var/lib/postgresql" in mounts


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may sit between continuation lines
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions = [(head.upper(), rest.strip()) for head, _, rest in (s.partition(" ") for s in logical)]
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_dockerfile() -> None:
    stage = dockerfile_final_stage()

    def args(name: str) -> list[str]:
        return [rest for instr, rest in stage if instr == name]

    assert stage[0][1].startswith("python:3.11-slim")
    assert "8000" in " ".join(args("EXPOSE")).replace("/tcp", "").split()
    assert any("/readyz" in h for h in args("HEALTHCHECK"))
    user = args("USER")[-1].split(":")[0]
    assert user not in ("root", "0"), "the image must not run as root"
    cmd = args("CMD")[-1]
    argv = json.loads(cmd) if cmd.startswith("[") else cmd.split()
    assert argv[:2] == ["hotline-api", "serve"]
    assert DATA_DIR in " ".join(args("VOLUME"))


def test_ci_runs_the_readme_command() -> None:
    command = readme_test_command()
    workflow = _yaml(".github/workflows/ci.yml")
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True
    triggers: Any = workflow["on"] if "on" in workflow else workflow[True]
    if isinstance(triggers, str):
        triggers = [triggers]
    assert {"push", "pull_request"} <= set(triggers)
    runs = [step.get("run", "").strip() for job in workflow["jobs"].values() for step in job["steps"]]
    assert command in runs
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in (line.strip() for line in ci_run)
