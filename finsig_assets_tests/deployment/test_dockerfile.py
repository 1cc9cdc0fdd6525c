"""docker/Dockerfile, read statically (no Docker engine here): a multi-stage build on a
``BASE_IMAGE`` argument, the project installed from its wheel (never editable), FinBERT
pre-downloaded at a pinned commit with the project's own command, a non-root final stage, and
the code server -- never ``dagster dev`` -- as the default command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib

from finsig_assets_tests.deployment.docker_files import (
    DOCKER,
    DOCKERFILE,
    REPO,
    Stage,
    dockerfile,
    ignored_by_dockerignore,
)

COMMIT = re.compile(r"[0-9a-f]{40}")


def final_stage() -> Stage:
    return dockerfile()[1][-1]


def stage_named(name: str) -> Stage:
    [stage] = [s for s in dockerfile()[1] if s.name == name]
    return stage


def test_multi_stage_on_a_base_image_argument():
    global_args, stages = dockerfile()
    assert global_args["BASE_IMAGE"] == "python:3.11-slim-bookworm"
    assert len(stages) >= 3 and all(s.name for s in stages)
    names = {s.name for s in stages}
    # Every stage starts from the base image argument or from an earlier stage of this file.
    assert stages[0].base == "${BASE_IMAGE}"
    for stage in stages[1:]:
        assert stage.base in names, f"stage {stage.name} starts from {stage.base}, not from this build"
    # The runtime copies the virtual environment built in another stage, not a build toolchain.
    copies = [i.args for i in final_stage().of("COPY")]
    assert any(c.startswith("--from=") and "/opt/venv" in c for c in copies)


def test_python_311_is_installed_on_a_base_image_without_it():
    script = DOCKER / "install-python.sh"
    first = dockerfile()[1][0]
    assert any("install-python.sh" in i.args for i in first.of("RUN"))
    out = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = script.read_text()
    assert "python3.11" in text and "python3.11-venv" in text


def test_the_project_is_installed_from_its_wheel_never_editable():
    text = "\n".join(f"{i.keyword} {i.args}" for s in dockerfile()[1] for i in s.instructions)
    assert not re.search(r"pip install[^\n]*(\s-e\s|--editable)", text), "an editable install in the image"
    builder_runs = " ".join(i.args for s in dockerfile()[1] for i in s.of("RUN"))
    assert "pip wheel" in builder_runs and re.search(r"pip install \S*\.whl", builder_runs)
    # Dependencies are pyproject.toml's pins, torch among them at the version the project pins.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "torch==2.13.0" in pyproject["project"]["dependencies"]
    assert "tomllib" in builder_runs and "['project']['dependencies']" in builder_runs


def test_the_final_stage_runs_as_a_non_root_user():
    stage = final_stage()
    users = stage.of("USER")
    assert users, "the final stage never leaves root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(i.args for i in stage.of("RUN"))
    assert re.search(rf"useradd\b[^&]*--uid 10001\b[^&]*\b{user}\b", created), "the user is not created with uid 10001"
    index = {id(i): n for n, i in enumerate(stage.instructions)}
    assert index[id(users[-1])] < index[id(stage.of("CMD")[-1])]


def test_the_default_command_is_the_code_server_never_dagster_dev():
    stages = dockerfile()[1]
    for stage in stages:
        for inst in stage.instructions:
            assert "dagster dev" not in inst.args, f"Dockerfile line {inst.line}: dagster dev"
    cmd = final_stage().of("CMD")[-1].json_or_shell()
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == "finsig_assets.definitions"
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0"
    assert [i.args for i in final_stage().of("EXPOSE")] == [cmd[cmd.index("-p") + 1]]


def test_finbert_is_predownloaded_at_a_pinned_commit():
    stages = dockerfile()[1]
    declared = [s.arg_defaults()["FINBERT_REVISION"] for s in stages if "FINBERT_REVISION" in s.arg_defaults()]
    assert declared and all(COMMIT.fullmatch(d or "") for d in declared), declared
    assert len(set(declared)) == 1, "the stages disagree on the FinBERT revision"
    downloads = [
        (s, i) for s in stages for i in s.of("RUN") if "finsig_assets.sentiment.model_download download" in i.args
    ]
    assert len(downloads) == 1
    stage, run = downloads[0]
    assert stage.arg_defaults()["FINBERT_PREDOWNLOAD"] == "1"
    assert '--revision "$FINBERT_REVISION"' in run.args and '--model "$FINBERT_MODEL"' in run.args
    # A revision that is not a commit (a branch such as main) fails the build with a message.
    assert "[0-9a-f]{40}" in run.args and "exit 1" in run.args
    env = final_stage().env()
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["FINSIG_FINBERT_REVISION"] == "${FINBERT_REVISION}"
    assert final_stage().arg_defaults()["FINBERT_REVISION"] == declared[0]
    # The weights come into the runtime from the download stage, and are checked there.
    assert any(c.args.startswith(f"--from={stage.name} ") for c in final_stage().of("COPY"))
    assert any("finsig model check" in i.args for i in final_stage().of("RUN"))


def test_the_download_stage_has_every_module_the_command_imports(tmp_path):
    """The model stage copies a few modules only (so that a code change does not download the
    weights again): they must be enough for ``python -m ...model_download``."""
    stage = stage_named("model")
    for inst in stage.of("COPY"):
        *sources, destination = shlex.split(inst.args)
        assert not any(s.startswith("--") for s in sources)
        for source in sources:
            target = tmp_path / destination / (REPO / source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REPO / source).read_bytes())
    out = subprocess.run(
        [sys.executable, "-m", "finsig_assets.sentiment.model_download", "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "--revision" in out.stdout


def test_copied_files_exist_and_pass_the_dockerignore():
    for stage in dockerfile()[1]:
        for inst in stage.of("COPY"):
            words = shlex.split(inst.args)
            if any(w.startswith("--from=") for w in words):
                continue
            for source in [w for w in words[:-1] if not w.startswith("--")]:
                assert (REPO / source).exists(), f"Dockerfile line {inst.line}: {source} does not exist"
                assert not ignored_by_dockerignore(source), f"Dockerfile line {inst.line}: {source} is dockerignored"
    for secret in ("docker/.env", ".git/config", ".venv/bin/python", ".finsig/warehouse.duckdb"):
        assert ignored_by_dockerignore(secret), f"{secret} would be sent to the build"
    assert ignored_by_dockerignore("finsig_assets/__pycache__/settings.cpython-311.pyc")
    assert not ignored_by_dockerignore("dbt_like_sql/tables/ml.predictions.sql")


def test_dockerignore_matcher_follows_docker_rules():
    assert ignored_by_dockerignore("a/b.txt", ["*"])
    assert not ignored_by_dockerignore("a/b.txt", ["*", "!a"])
    assert ignored_by_dockerignore("a/__pycache__/x.pyc", ["**/__pycache__"])
    assert not ignored_by_dockerignore("a/b.txt", ["b.txt"])


def test_dockerfile_is_where_the_compose_build_looks():
    assert DOCKERFILE == REPO / "docker" / "Dockerfile" and DOCKERFILE.with_name("Dockerfile.dockerignore").is_file()
