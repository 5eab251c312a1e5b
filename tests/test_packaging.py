"""One import name: connectors/ and rules/ install only as sellerguard.connectors / sellerguard.rules."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_subpackage_is_listed():
    """An unlisted subpackage works editable but is silently missing from the wheel."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    roots = {"sellerguard": REPO / "sellerguard", **{k: REPO / v for k, v in
                                                       PYPROJECT["tool"]["setuptools"]["package-dir"].items()}}
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            dotted = ".".join([name, *rel.parts]) if rel.parts else name
            if "__pycache__" not in dotted:
                assert dotted in listed, f"{dotted} is not in [tool.setuptools] packages"


def test_installed_names_resolve_into_the_repo_folders():
    import sellerguard.connectors
    import sellerguard.rules

    assert Path(sellerguard.connectors.__file__).parent == REPO / "connectors"
    assert Path(sellerguard.rules.__file__).parent == REPO / "rules"


def test_bare_folders_are_not_importable_outside_the_repo(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('connectors'), u.find_spec('rules'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None None"


@pytest.mark.slow
def test_wheel_holds_only_the_sellerguard_tree(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(REPO)], check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("sellerguard-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"sellerguard", next(t for t in tops if t.endswith(".dist-info"))}
    assert "sellerguard/connectors/contract.py" in names
    assert "sellerguard/store/migrations/versions/0001_initial_schema.py" in names
    assert "sellerguard/store/migrations/script.py.mako" in names
    assert any(n.startswith("sellerguard/rules/packs/") and n.endswith(".toml") for n in names) or not list(
        (REPO / "rules" / "packs").glob("*.toml"))
