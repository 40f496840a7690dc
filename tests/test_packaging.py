"""The product carries only the product: bot/ and blocks/ import nothing from the sandbox, and the
wheel `pip install .` installs holds no sandbox, no simulator and no web page."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "blocks")
# The sandbox's import package, and where its parts lived before it became a distribution.
FORBIDDEN = ("syncbot_sandbox", "sandbox", "bot.sandbox", "bot.patchworks.simulator")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names += [
                arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
    return names


def _forbidden(name: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in FORBIDDEN)


def test_product_source_imports_nothing_from_the_sandbox() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if _forbidden(name)
    ]
    assert offenders == []


def test_importing_every_product_module_loads_no_sandbox_module() -> None:
    # In a fresh interpreter: whatever the product imports at import time, the sandbox is not in it.
    # Alembic's migration scripts run inside Alembic, not on import; __main__ runs the command.
    script = f"""
import importlib, pkgutil, sys
for root in {PRODUCT!r}:
    package = importlib.import_module(root)
    for module in pkgutil.walk_packages(package.__path__, root + "."):
        if ".migrations." not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
print(sorted(name for name in sys.modules if name.split(".")[0] in ("syncbot_sandbox", "sandbox")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_product_wheel_holds_only_the_product(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*_cache", ".hypothesis", "build", "*.egg-info"
        ),
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path / "dist",
            source,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "Deprecat" not in built.stdout + built.stderr  # e.g. the licence given as a TOML table
    [wheel] = (tmp_path / "dist").glob("syncbot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
    modules = [name.removesuffix(".py").replace("/", ".") for name in names if name.endswith(".py")]
    assert {name.split("/")[0] for name in names} == {
        "bot",
        "blocks",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert [name for name in modules if _forbidden(name) or "simulator" in name] == []
    assert [name for name in names if name.endswith((".js", ".css", ".html"))] == []
    assert {"bot.cli", "bot.runtime", "blocks.limits"} <= set(modules)
    assert "License-Expression: MIT" in metadata
    runtime_requirements = [
        line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert not [line for line in runtime_requirements if "jsonschema" in line or "pyyaml" in line.lower()]
