"""The container images, checked without a Docker engine: hadolint on both Dockerfiles, and a parse of
deploy/Dockerfile against the workspace (console scripts, ports, settings, members) and the entry
point run for real."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from resonanz_sdk.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HADOLINT = Path(sys.executable).parent / "hadolint"
#: The console scripts that are service processes (the CLI ``resonanz`` is not a role).
ROLE_SCRIPTS = {"resonanz-publishing", "resonanz-listening", "resonanz-scoring", "resonanz-embedded"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its (KEYWORD, arguments) instructions in order."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the last instruction is continued into nothing"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            arg_name, _, default = args.partition("=")
            global_args[arg_name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def env_of(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            values[key] = value
    return values


def workspace_members() -> list[Path]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members: list[Path] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += sorted(
            Path(p) for p in glob.glob(str(ROOT / pattern)) if (Path(p) / "pyproject.toml").exists()
        )
    return members


def console_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for member in workspace_members():
        project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
        scripts.update(project.get("scripts", {}))
    return scripts


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DEPLOY / "Dockerfile")


# -- hadolint ------------------------------------------------------------------------------------------


def test_hadolint_config_ignores_nothing_without_a_reason() -> None:
    config_path = DEPLOY / "hadolint.yaml"
    config = yaml.safe_load(config_path.read_text())
    assert config["failure-threshold"] in {"style", "info"}  # every finding fails
    ignored = config.get("ignored") or []
    for rule in ignored:
        line = next(line for line in config_path.read_text().splitlines() if rule in line)
        assert re.search(r"#\s*\S", line), f"{rule} is ignored without a reason comment"


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.plugin"])
def test_hadolint_passes(name: str) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--config", str(DEPLOY / "hadolint.yaml"), str(DEPLOY / name)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\nUSER root\n")
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--config", str(DEPLOY / "hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3002"):
        assert rule in result.stdout


# -- deploy/Dockerfile against the workspace -------------------------------------------------------------


def test_two_stages_on_the_same_python_and_nothing_to_build_with_in_the_final_one(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    global_args, stages = dockerfile
    assert [stage.name for stage in stages] == ["build", "runtime"]
    assert global_args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    # The same base in both: the venv's interpreter link (/usr/local/bin/python3.11) stays valid.
    assert stages[0].base == stages[1].base == "${PYTHON_IMAGE}"
    build, runtime = stages
    syncs = [args for args in build.all("RUN") if "uv sync" in args]
    assert len(syncs) == 2
    for sync in syncs:
        for flag in ("--frozen", "--no-dev", "--all-packages", "--no-editable"):
            assert flag in sync
    assert "--no-install-workspace" in syncs[0]
    assert env_of(build)["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"
    assert any("uv==0.13.9" in args for args in build.all("RUN"))
    # The runtime stage installs nothing and copies only the environment and the entry point.
    for args in runtime.all("RUN"):
        assert not re.search(r"\b(pip|uv|apt-get|apk|gcc|make)\b", args), args
    copies = runtime.all("COPY")
    assert "--from=build /app/.venv /app/.venv" in copies
    assert all("--from=build" in args or "deploy/entrypoint.sh" in args for args in copies), copies


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.plugin"])
def test_variables_are_declared_in_the_stage_that_uses_them(name: str) -> None:
    """A global ARG is not visible inside a stage unless the stage declares it again."""
    _, stages = parse_dockerfile(DEPLOY / name)
    for stage in stages:
        known = {"PATH"}
        for keyword, args in stage.instructions:
            for variable in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", args):
                if keyword != "RUN":  # RUN sees the shell's environment too
                    assert variable in known, f"{name}: {keyword} uses ${variable}, not declared in its stage"
            if keyword == "ARG":
                known.add(args.partition("=")[0])
            elif keyword == "ENV":
                known.update(item.partition("=")[0] for item in shlex.split(args))


def test_runs_as_a_numeric_non_root_user(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    users = stages[-1].all("USER")
    assert users, "the final stage sets no USER"
    user, _, group = users[-1].partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert user == "10001"
    assert group.isdigit()
    assert int(group) != 0
    plugin_users = parse_dockerfile(DEPLOY / "Dockerfile.plugin")[1][-1].all("USER")
    assert plugin_users[0] == "0"  # installs as root ...
    assert plugin_users[-1] == users[-1]  # ... and gives the image back to the same user


def test_every_workspace_member_is_in_the_dependency_layer(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    build = dockerfile[1][0]
    copied = set()
    for args in build.instructions[
        : next(i for i, (k, a) in enumerate(build.instructions) if "uv sync" in a)
    ]:
        if args[0] == "COPY":
            sources = args[1].split()[:-1]
            copied.update(sources)
    assert {"pyproject.toml", "uv.lock"} <= copied
    expected = {f"{member.relative_to(ROOT)}/pyproject.toml" for member in workspace_members()}
    assert len(expected) >= 8
    assert expected <= copied, f"missing from the dependency layer: {sorted(expected - copied)}"


def test_command_and_entry_point_name_real_console_scripts(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    runtime = dockerfile[1][-1]
    scripts = console_scripts()
    assert set(scripts) >= ROLE_SCRIPTS, sorted(scripts)
    cmd = runtime.all("CMD")[-1]
    assert cmd.startswith("[")  # exec form
    assert json.loads(cmd)[0] in ROLE_SCRIPTS
    assert runtime.all("ENTRYPOINT")[-1] == '["resonanz-entrypoint"]'
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    named_in_entrypoint = set(re.findall(r"\bresonanz-[a-z]+\b", entrypoint)) - {"resonanz-entrypoint"}
    assert named_in_entrypoint == ROLE_SCRIPTS
    # Every resonanz-* command the deployment docs tell people to run is a console script or an image.
    readme = (DEPLOY / "README.md").read_text()
    commands = set(re.findall(r"\bresonanz(?:-plugins)?:[\w.${}-]+\s+(resonanz[\w-]*)", readme))
    commands |= set(re.findall(r"command: \[\"(resonanz[\w-]*)\"", readme))
    assert commands, "the README shows no container command"
    assert commands <= set(scripts), sorted(commands - set(scripts))
    for script in ROLE_SCRIPTS:
        assert script in readme


def test_exposed_ports_are_the_settings_defaults(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    runtime = dockerfile[1][-1]
    exposed = {int(port.split("/")[0]) for args in runtime.all("EXPOSE") for port in args.split()}
    defaults = {
        Settings.model_fields[name].default
        for name in ("publishing_port", "listening_port", "scoring_port", "metrics_port")
    }
    assert exposed == defaults == {50051, 50052, 50053, 9464}


def test_environment_names_real_settings_and_a_writable_data_dir(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    runtime = dockerfile[1][-1]
    env = env_of(runtime)
    for key in env:
        if key.startswith("RESONANZ_"):
            assert key.removeprefix("RESONANZ_").lower() in Settings.model_fields, key
    assert env["RESONANZ_GRPC_HOST"] == "0.0.0.0"  # probes and Services reach the pod's IP
    assert env["RESONANZ_DATA_DIR"] == "/data"
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/app/.venv/bin:")
    setup = " ".join(runtime.all("RUN"))
    assert "mkdir /data" in setup
    assert "chown 10001:10001 /data" in setup
    labels = " ".join(runtime.all("LABEL"))
    for label in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".git", ".venv", ".tools", ".resonanz", "**/__pycache__", "**/.mypy_cache", "**/*.db"):
        assert required in patterns
    # What the build needs is not excluded.
    for needed in ("uv.lock", "pyproject.toml", "sdk", "services", "protos", "plugins", "cli", "embedded"):
        assert needed not in patterns
    assert "!deploy/entrypoint.sh" in patterns


# -- the entry point, run ------------------------------------------------------------------------------


def run_entrypoint(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )


def test_entrypoint_runs_the_role_and_refuses_unknown_ones() -> None:
    role = run_entrypoint("resonanz-scoring", "--help")
    assert role.returncode == 0, role.stderr
    assert "usage: resonanz-scoring" in role.stdout
    unknown = run_entrypoint("resonanz-dispatcher")
    assert unknown.returncode == 64
    assert "unknown role 'resonanz-dispatcher'" in unknown.stderr
    assert "resonanz-publishing" in unknown.stderr
    nothing = run_entrypoint()
    assert nothing.returncode == 64
    other = run_entrypoint("sh", "-c", "echo $0", "passed-through")
    assert (other.returncode, other.stdout.strip()) == (0, "passed-through")
