"""The wheel the image installs carries the SQL models and DDL, and an installed copy finds them.

dbt_like_sql/ stays at the repository root; pyproject.toml maps it into the wheel as
``finsig_assets/dbt_like_sql`` (package data), and ``settings.sql_dir()`` finds the installed
copy when there is no checkout beside the package. The wheel is built from a copy of the
sources (what the Dockerfile's builder stage copies) so the shared checkout gets no build/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from finsig_assets import settings
from finsig_assets_tests.deployment.docker_files import REPO

SOURCES = ("pyproject.toml", "README.md", "finsig_assets", "dbt_like_sql")
PROBE = """
import json
import finsig_assets
from finsig_assets import settings
print(json.dumps({"package": finsig_assets.__file__, "sql_dir": str(settings.sql_dir())}))
"""


def sql_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.sql"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(source, src / name)
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    out = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    [wheel] = wheels.glob("finsig-*.whl")
    target = tmp / "installed"
    out = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return {"wheel": wheel, "installed": target, "tmp": tmp}


def probe(installed: Path, cwd: Path, **extra_env: str) -> dict:
    """Run ``code`` against the installed copy: PYTHONPATH first, cwd away from the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSIG_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(installed), FINSIG_HOME=str(cwd / "home"), **extra_env)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_image_builds_the_wheel_from_the_same_sources():
    from finsig_assets_tests.deployment.docker_files import dockerfile

    [builder] = [s for s in dockerfile()[1] if s.name == "builder"]
    copied = {w for i in builder.of("COPY") for w in i.args.split()[:-1]}
    assert copied == set(SOURCES)


def test_the_wheel_carries_every_sql_file(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    expected = {f"finsig_assets/dbt_like_sql/{name}" for name in sql_files(REPO / "dbt_like_sql")}
    assert expected and expected <= names, sorted(expected - names)
    assert any(n.startswith("finsig_assets/dbt_like_sql/tables/") for n in expected)


def test_the_wheel_carries_every_module_of_the_package(built):
    """pyproject.toml lists the subpackages: one left out of the list would be missing here."""
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "finsig_assets").rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(modules - names)
    assert not missing, f"not in the wheel (add the package to [tool.setuptools] packages in pyproject.toml): {missing}"
    assert not any(n.startswith("finsig_assets_tests/") for n in names), "the tests are shipped in the wheel"


def test_an_installed_copy_finds_its_own_sql(built):
    installed = built["installed"]
    elsewhere = built["tmp"] / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    found = probe(installed, elsewhere)
    assert Path(found["package"]).parent == installed / "finsig_assets", "the probe did not import the installed copy"
    sql_dir = Path(found["sql_dir"])
    assert sql_dir == installed / "finsig_assets" / "dbt_like_sql"
    assert sql_files(sql_dir) == sql_files(REPO / "dbt_like_sql")  # the models and tables/ (DDL)


def test_finsig_sql_dir_still_overrides_the_installed_copy(built, tmp_path):
    override = tmp_path / "my_sql"
    shutil.copytree(REPO / "dbt_like_sql", override)
    found = probe(built["installed"], tmp_path, FINSIG_SQL_DIR=str(override))
    assert Path(found["sql_dir"]) == override.resolve()


def test_the_editable_install_still_works(built):
    """``pip install -e .`` (``make setup``): the package and dbt_like_sql/ from the checkout."""
    src, tmp = built["tmp"] / "src", built["tmp"]
    out = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_editable({str(tmp / 'editable')!r}))"],
        cwd=src, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    wheel = tmp / "editable" / out.stdout.strip().splitlines()[-1]
    target = tmp / "editable-installed"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "-q", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # -S: not the venv's own editable finder; the installed .pth is processed as in site-packages.
    code = (
        "import json, site, sys; sys.path.insert(0, sys.argv[1]); site.addsitedir(sys.argv[1]);"
        "import finsig_assets; from finsig_assets import settings;"
        "print(json.dumps({'package': finsig_assets.__file__, 'sql_dir': str(settings.sql_dir())}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSIG_") and k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target)], cwd=tmp, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(found["package"]) == src / "finsig_assets" / "__init__.py"
    assert Path(found["sql_dir"]) == src / "dbt_like_sql"


def test_the_checkout_uses_its_own_dbt_like_sql(monkeypatch):
    monkeypatch.delenv("FINSIG_SQL_DIR", raising=False)
    assert settings.sql_dir() == (REPO / "dbt_like_sql").resolve()
