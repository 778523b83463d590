"""`make e2e`'s install: the package as users get it, a wheel built from the repository, in a virtualenv of its own.

The wheel is built from a copy of the repository (so no build/ or egg-info lands in the work tree) with the project's
own tools (``pip wheel --no-deps --no-build-isolation``); the virtualenv ``.qcmdb/e2e-venv`` gets
``requirements.txt`` and then the wheel. It is kept between runs and rebuilt only when ``requirements.txt`` changes;
a changed wheel is reinstalled into it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from e2e_env import REPO, STATE

VENV = STATE / "e2e-venv"
DIST = STATE / "e2e-dist"
STAMP = VENV / ".e2e-installed.json"
#: What the wheel is built from (everything else of the repository stays out of the copy).
NOT_BUILT_FROM = (".venv", ".qcmdb", ".git", "tests", "bench", "build", "dist", "*.egg-info", "__pycache__", "*.pyc")


@dataclass(frozen=True)
class Install:
    """The e2e virtualenv: its bin folder, the wheel in it and what was (re)done to get there."""

    bin: Path
    wheel: Path
    action: str


class InstallError(RuntimeError):
    """Building the wheel or the virtualenv failed (the output is in the install log)."""


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise InstallError(f"{' '.join(cmd)} exited {code} (whole output in {log}):\n{tail}")


def build_wheel(log: Path) -> Path:
    """The project's wheel, built from a copy of the repository into .qcmdb/e2e-dist/."""
    shutil.rmtree(DIST, ignore_errors=True)
    DIST.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="qcmdb-wheel-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_BUILT_FROM))
        pip = Path(sys.executable).parent / "pip"
        _run([str(pip), "wheel", "--no-deps", "--no-build-isolation", "-w", str(DIST), "."], log, cwd=source)
    wheels = sorted(DIST.glob("qualys_cmdb_sync-*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"expected one qualys_cmdb_sync wheel in {DIST}, found {[w.name for w in wheels]}")
    return wheels[0]


def wheel_digest(wheel: Path) -> str:
    """A digest of the wheel's members (names and contents; zip timestamps left out)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + archive.read(name) + b"\0")
    return digest.hexdigest()


def _requirements_digest() -> str:
    return hashlib.sha256((REPO / "requirements.txt").read_bytes()).hexdigest()


def _stamp() -> dict[str, str]:
    try:
        return dict(json.loads(STAMP.read_text()))
    except (OSError, ValueError):
        return {}


def ensure_venv(wheel: Path, log: Path) -> Install:
    """The e2e virtualenv with requirements.txt and ``wheel`` installed, reusing what is still current."""
    stamp = _stamp()
    requirements, built = _requirements_digest(), wheel_digest(wheel)
    bin_dir = VENV / "bin"
    if stamp.get("requirements") != requirements or not (bin_dir / "python").exists():
        shutil.rmtree(VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(VENV)], log)
        _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], log)
        _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r", str(REPO / "requirements.txt")], log)
        action = "new virtualenv (requirements.txt changed or no virtualenv yet)"
    elif stamp.get("wheel") != built:
        _run([str(bin_dir / "python"), "-m", "pip", "uninstall", "--quiet", "--yes", "qualys-cmdb-sync"], log)
        action = "virtualenv reused, changed wheel reinstalled"
    else:
        return Install(bin_dir, wheel, "virtualenv and wheel unchanged: reused as is")
    STAMP.unlink(missing_ok=True)
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], log)  # with its declared deps
    STAMP.write_text(json.dumps({"requirements": requirements, "wheel": built}) + "\n")
    return Install(bin_dir, wheel, action)


def declared_dependencies(wheel: Path) -> list[str]:
    """The distribution names the wheel declares (``Requires-Dist``)."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    return [re.split(r"[\s\[<>=!~;(]", name, maxsplit=1)[0] for name in names]


def pip_check(bin_dir: Path) -> str:
    """``pip check`` of the e2e virtualenv: every installed distribution's declared requirements are met."""
    result = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    return (result.stdout + result.stderr).strip().splitlines()[-1] if result.returncode else "no broken requirements"


def install(log: Path) -> Install:
    """Build the wheel and bring the e2e virtualenv up to date with it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    return ensure_venv(build_wheel(log), log)
