"""The installable package (issue 17): what the wheel carries and declares, and that it works on its own.

The wheel is built with ``pip wheel --no-deps --no-build-isolation`` from a copy of the project's build inputs (so no
``build/`` or ``*.egg-info`` lands in the working tree while other tests run). Checked:

* its files: every module of the source tree (pyproject.toml lists the packages), the default configuration and
  mappings (``qualys_cmdb/defaults/``, built from ``include/``, byte for byte), the Alembic migrations, the UI
  templates and the three entry points (``qcmdb``, the Airflow provider, the Airflow plugin);
* its ``Requires-Dist``: every third-party module the shipped code imports (an AST scan of every module, lazy
  imports included, ``if TYPE_CHECKING:`` blocks and the standard library, ``sys.stdlib_module_names``, left out)
  belongs to a declared distribution (``importlib.metadata.packages_distributions()``);
* installed with ``pip install --no-deps`` into a fresh virtualenv (``python -m venv``) that sees the dev venv's
  site-packages through a plain path line in a ``.pth`` file: the third-party packages are there without being
  installed again, but the ``.pth`` files of that directory, the editable install's finder among them, are not
  processed, so ``qualys_cmdb`` can only come from the wheel (asserted before installing). There, from a neutral
  working directory, with a minimal environment (no ``PYTHONPATH``, ``AIRFLOW_HOME`` in tmp_path, no database):
  every module imports from the venv, ``qcmdb --help``, ``qcmdb config validate`` and ``qcmdb mappings validate``
  work with the packaged defaults (a project's ``include/config`` and ``$QUALYS_CMDB_CONFIG`` keep priority),
  ``airflow providers list`` shows the provider and ``airflow plugins`` the plugin, both from the wheel.

Dependency resolution is not exercised here (``--no-deps`` keeps the test fast and offline): a full ``pip install .``
with its dependencies resolved, in a clean environment, is what ``make e2e`` does.
"""

from __future__ import annotations

import ast
import email.message
import email.parser
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PROVIDER_PACKAGE = "qualys-cmdb-sync"
PLUGIN_NAME = "qualys_cmdb"
#: The build's inputs: pyproject.toml and the files it names (readme, package-dir roots).
BUILD_FILES = ("pyproject.toml", "README.md")
BUILD_DIRS = ("plugins", "simulators", "include")
#: Source packages whose modules are shipped: wheel path prefix -> source folder.
SOURCES = {"qualys_cmdb": REPO / "plugins" / "qualys_cmdb", "simulators": REPO / "simulators"}
#: Run by Alembic (it reads ``alembic.context.config``), never imported.
NOT_IMPORTABLE = {"qualys_cmdb.staging.migrations.env"}
TIMEOUT = 120


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path
    site_packages: Path
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [str(a) for a in args],
            cwd=cwd or self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the project."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, src / name)
    for name in BUILD_DIRS:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    (built,) = out.glob("qualys_cmdb_sync-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


@pytest.fixture(scope="module")
def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = (n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(meta).decode())


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh venv that sees the dev venv's packages (not its .pth files) with the wheel installed."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=TIMEOUT)
    python = root / "bin" / "python"
    home = tmp_path_factory.mktemp("home")
    cwd = tmp_path_factory.mktemp("cwd")  # no include/ here: the packaged defaults are used
    env = {
        "PATH": f"{root / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "QUALYS_CMDB_HOME": str(home / "qcmdb"),
    }
    probe = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    site_packages = Path(probe.stdout.strip())
    dev_paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    # A plain path line: the directory joins sys.path, its own .pth files (the editable finder) are not processed.
    (site_packages / "dev_site_packages.pth").write_text("".join(f"{p}\n" for p in dev_paths))
    venv = Venv(root, python, site_packages, env, cwd)

    before = json.loads(
        venv.run(
            python,
            "-c",
            "import importlib.util, json; print(json.dumps({m: importlib.util.find_spec(m) is not None "
            "for m in ('qualys_cmdb', 'simulators', 'airflow', 'sqlalchemy')}))",
        )
    )
    assert before == {"qualys_cmdb": False, "simulators": False, "airflow": True, "sqlalchemy": True}, before

    # --ignore-installed: pip sees the dev venv's (editable) distribution and must leave it alone.
    venv.run(
        python,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--ignore-installed",
        "--no-index",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "-q",
        wheel,
    )
    yield venv


def test_wheel_ships_every_module_defaults_migrations_and_templates(names: set[str]) -> None:
    for package, folder in SOURCES.items():
        sources = {
            f"{package}/{p.relative_to(folder).as_posix()}"
            for p in folder.rglob("*.py")
            if "__pycache__" not in p.parts
        }
        missing = sorted(sources - names)
        assert not missing, f"not in the wheel (add the package to pyproject.toml's packages): {missing}"

    defaults = REPO / "include"
    shipped = {p for p in defaults.rglob("*") if p.is_file()}
    assert {p.relative_to(defaults).as_posix() for p in shipped} >= {
        "config/qualys_cmdb.yaml",
        "mappings/cmdb_classes.yaml",
        "mappings/ci_class_rules.yaml",
        "mappings/hardware_classes.csv",
        "mappings/field_maps.yaml",
    }
    for path in shipped:
        assert f"qualys_cmdb/defaults/{path.relative_to(defaults).as_posix()}" in names, path

    migrations = REPO / "plugins/qualys_cmdb/staging/migrations"
    versions = sorted(p.name for p in (migrations / "versions").glob("*.py"))
    assert versions
    for name in ["env.py", "script.py.mako", *(f"versions/{v}" for v in versions)]:
        assert f"qualys_cmdb/staging/migrations/{name}" in names, name

    templates = sorted(p.name for p in (REPO / "plugins/qualys_cmdb/ui/templates").glob("*.html"))
    assert "base.html" in templates
    for name in templates:
        assert f"qualys_cmdb/ui/templates/{name}" in names, name
    assert "qualys_cmdb/py.typed" in names


def test_wheel_declares_its_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (ep_file,) = (n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(ep_file).decode()
    assert "qcmdb = qualys_cmdb.cli:main" in entry_points
    assert "[apache_airflow_provider]\nprovider_info = qualys_cmdb.provider_info:get_provider_info" in entry_points
    assert "[airflow.plugins]\nqualys_cmdb = qualys_cmdb.plugin:QualysCmdbPlugin" in entry_points


def _runtime_imports(tree: ast.AST) -> Iterator[str]:
    """Top-level names of the absolute imports of a module, ``if TYPE_CHECKING:`` blocks left out."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        stack.extend(ast.iter_child_nodes(node))


def test_wheel_requires_every_distribution_it_imports(wheel: Path, metadata: email.message.Message) -> None:
    own = set(SOURCES)
    imported: dict[str, set[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".py"):
                for module in _runtime_imports(ast.parse(zf.read(name), name)):
                    if module not in sys.stdlib_module_names and module not in own:
                        imported.setdefault(module, set()).add(name)
    assert {"airflow", "sqlalchemy", "msgspec", "fastapi", "jinja2"} <= imported.keys()

    declared = {
        canonicalize_name(req.name)
        for req in map(Requirement, metadata.get_all("Requires-Dist") or [])
        if req.marker is None or "extra" not in str(req.marker)
    }
    owners = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(imported.items()):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        if not dists:
            problems.append(f"{module} (imported by {sorted(files)}): no installed distribution provides it")
        elif not dists & declared:
            problems.append(f"{module} (imported by {sorted(files)}): declare one of {sorted(dists)}")
    assert not problems, "pyproject.toml dependencies miss:\n" + "\n".join(problems)


def test_installed_wheel_imports_and_runs_with_packaged_defaults(venv: Venv, tmp_path: Path) -> None:
    walk = json.loads(
        venv.run(
            venv.python,
            "-c",
            "import importlib, json, pkgutil, sys\n"
            "import qualys_cmdb, simulators\n"
            "def fail(name): raise ImportError(name)\n"
            f"skip = {sorted(NOT_IMPORTABLE)!r}\n"
            "mods = []\n"
            "for pkg in (qualys_cmdb, simulators):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.', onerror=fail):\n"
            "        if m.name not in skip:\n"
            "            importlib.import_module(m.name)\n"
            "            mods.append(m.name)\n"
            "from qualys_cmdb.config import config_path\n"
            "from qualys_cmdb.classify.mappings import mappings_dir\n"
            "print(json.dumps({'file': qualys_cmdb.__file__, 'modules': mods, 'config': str(config_path()),\n"
            "                  'mappings': str(mappings_dir()),\n"
            "                  'files': {m: sys.modules[m].__file__ for m in mods}}))",
        )
    )
    site = venv.site_packages.resolve()
    assert Path(walk["file"]).resolve().is_relative_to(site), walk["file"]
    outside = {m: f for m, f in walk["files"].items() if not Path(f).resolve().is_relative_to(site)}
    assert not outside, outside
    expected = (
        {
            f"{package}.{'.'.join(p.relative_to(folder).with_suffix('').parts)}".removesuffix(".__init__")
            for package, folder in SOURCES.items()
            for p in folder.rglob("*.py")
            if "__pycache__" not in p.parts and "versions" not in p.relative_to(folder).parts
        }
        - set(SOURCES)
        - NOT_IMPORTABLE
    )
    assert expected <= set(walk["modules"]), sorted(expected - set(walk["modules"]))
    packaged = site / "qualys_cmdb" / "defaults"
    assert walk["config"] == str(packaged / "config" / "qualys_cmdb.yaml")
    assert walk["mappings"] == str(packaged / "mappings")

    qcmdb = venv.root / "bin" / "qcmdb"
    assert "usage: qcmdb" in venv.run(qcmdb, "--help")
    out = venv.run(qcmdb, "config", "validate")
    assert out.startswith(str(packaged / "config" / "qualys_cmdb.yaml") + ": OK"), out
    assert "DAGs: qualys_to_cmdb__demo" in out
    out = venv.run(qcmdb, "mappings", "validate")
    assert out.startswith(str(packaged / "mappings") + ": OK"), out

    # A project's include/ (the working directory's) and then $QUALYS_CMDB_CONFIG / $QUALYS_CMDB_MAPPINGS come first.
    project = tmp_path / "project"
    shutil.copytree(REPO / "include", project / "include")
    out = venv.run(qcmdb, "config", "validate", cwd=project)
    assert out.startswith("include/config/qualys_cmdb.yaml: OK"), out
    out = venv.run(qcmdb, "mappings", "validate", cwd=project)
    assert out.startswith("include/mappings: OK"), out
    other = shutil.copytree(REPO / "include", tmp_path / "other")
    overrides = {
        "QUALYS_CMDB_CONFIG": str(other / "config/qualys_cmdb.yaml"),
        "QUALYS_CMDB_MAPPINGS": str(other / "mappings"),
    }
    out = venv.run(qcmdb, "config", "validate", cwd=project, env=overrides)
    assert out.startswith(f"{other / 'config/qualys_cmdb.yaml'}: OK"), out
    out = venv.run(qcmdb, "mappings", "validate", cwd=project, env=overrides)
    assert out.startswith(f"{other / 'mappings'}: OK"), out


def test_airflow_lists_the_provider_and_the_plugin_from_the_wheel(venv: Venv) -> None:
    providers = json.loads(venv.run(venv.python, "-m", "airflow", "providers", "list", "--output", "json"))
    assert PROVIDER_PACKAGE in {p["package_name"] for p in providers}, providers

    plugins = json.loads(venv.run(venv.python, "-m", "airflow", "plugins", "--output", "json"))
    (plugin,) = (p for p in plugins if p["name"] == PLUGIN_NAME)
    assert plugin["source"].startswith(f"{PROVIDER_PACKAGE}=="), plugin["source"]
    assert plugin["fastapi_apps"], plugin
    # The distribution those entry points come from is the wheel's, not the dev venv's editable install.
    where = venv.run(
        venv.python,
        "-c",
        f"import importlib.metadata as m; print(m.distribution({PROVIDER_PACKAGE!r}).locate_file(''))",
    )
    assert Path(where.strip()).resolve() == venv.site_packages.resolve(), where
