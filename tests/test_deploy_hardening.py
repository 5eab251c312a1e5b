"""docs/deploy.md's systemd unit (issue 19 item 8): its hardening scores below 2.0 with systemd-analyze, and the
daemon runs under the same sandboxing options where a test can apply them without systemd.

What the sandboxed run applies (Linux, root, util-linux's unshare and setpriv):
- ProtectSystem=strict + StateDirectory=: the whole root file system read-only in a private mount namespace,
  only the state folder writable (the database, its -wal/-shm, lock and key files live there);
- PrivateTmp=yes: a fresh tmpfs on /tmp;
- NoNewPrivileges=yes, CapabilityBoundingSet= (empty), AmbientCapabilities= (empty): setpriv;
- MemoryDenyWriteExecute=yes: the kernel's own PR_SET_MDWE (Linux 6.3+), which refuses W+X mappings as
  systemd's seccomp filter does;
- UMask=0077.
Not applied (explained in docs/deploy.md): SystemCallFilter=, RestrictAddressFamilies= and the other seccomp
filters (no libseccomp binding in the test environment), User= and ProtectHome= (this machine's Python lives
under /root; in production the venv is in /opt and runs as the sellerguard user).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "docs" / "deploy.md"


def unit_text() -> str:
    doc = DEPLOY.read_text()
    match = re.search(r"`/etc/systemd/system/sellerguard.service`:\n\n```ini\n(.*?)```", doc, re.S)
    assert match, "docs/deploy.md has no sellerguard.service block"
    return match.group(1)


def unit_options() -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in unit_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            options.setdefault(key, []).append(value)
    return options


def test_the_unit_names_the_hardening_options():
    opts = unit_options()
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "MemoryDenyWriteExecute": "yes",
                       "CapabilityBoundingSet": "", "UMask": "0077", "SystemCallArchitectures": "native",
                       "RestrictNamespaces": "yes", "StateDirectoryMode": "0700"}.items():
        assert value in opts.get(key, []), key
    assert "@system-service" in opts["SystemCallFilter"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_security_exposure_below_2(tmp_path):
    unit = tmp_path / "sellerguard.service"
    unit.write_text(unit_text())
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                         capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for sellerguard.service: (\d+\.\d+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) < 2.0


def _can_sandbox() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs Linux and root (mount namespaces)"
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        return "needs util-linux unshare and setpriv"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs",
                            "/mnt"], capture_output=True, timeout=10)
    return None if probe.returncode == 0 else "mount namespaces not permitted here"


SANDBOXED = r'''
set -e
mount --bind "$STATE" "$STATE"
# PrivateTmp hides /tmp; a checkout or venv that lives there (a CI clone) is bound back in, as BindPaths= would
for keep in $KEEP; do mkdir -p "$HOLD/${keep##*/}" && mount --bind "$keep" "$HOLD/${keep##*/}"; done
mount -t tmpfs -o mode=1777 tmpfs /tmp
for keep in $KEEP; do mkdir -p "$keep" && mount --bind "$HOLD/${keep##*/}" "$keep"; done
mount -o remount,bind,ro /
if touch /var/tmp/.sellerguard-probe 2>/dev/null; then echo "root file system is writable"; exit 99; fi
umask 0077
exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all "$PY" -c "$MDWE" "$@"
'''
MDWE = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (MemoryDenyWriteExecute)
    sys.exit("PR_SET_MDWE unsupported")
os.execv(sys.argv[1], sys.argv[1:])
'''


def _under_tmp(*paths: Path) -> list[str]:
    """The top folders under /tmp that hold these paths (a clone and its venv), each once."""
    tops = {str(Path("/tmp", p.resolve().relative_to("/tmp").parts[0])) for p in paths
            if p.resolve().is_relative_to("/tmp") and p.resolve() != Path("/tmp")}
    return sorted(tops)


@pytest.mark.slow
@pytest.mark.skipif(_can_sandbox() is not None, reason=str(_can_sandbox()))
def test_the_daemon_runs_under_the_units_sandboxing():
    from sellerguard.demo import sandbox_config_data
    from sellerguard.sandbox import Sandbox

    work = Path(tempfile.mkdtemp(prefix="sellerguard-unit-", dir="/var/tmp"))  # on the root fs: read-only inside
    try:
        etc, state = work / "etc", work / "state"
        etc.mkdir()
        state.mkdir(mode=0o700)
        with Sandbox(scale=0.05) as box:
            import tomli_w

            data = sandbox_config_data(box, etc / "sellerguard.toml")
            data["accounts"] = [a for a in data["accounts"] if a["marketplace"] == "etsy"]
            del data["store"]
            (etc / "sellerguard.toml").write_text(tomli_w.dumps(data))
            env = {**os.environ, "SELLERGUARD_CONFIG": str(etc / "sellerguard.toml"),
                   "SELLERGUARD_DB": f"sqlite:///{state / 'sellerguard.db'}", "STATE": str(state),
                   "PY": sys.executable, "MDWE": MDWE, "HOLD": str(work / "hold"),
                   "KEEP": " ".join(_under_tmp(Path(sys.prefix), Path(__file__).resolve().parents[1]))}
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", SANDBOXED, "sh",
                   str(Path(sys.executable).parent / "sellerguard"), "run", "--once", "--log-format", "json"]
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert ': synced ' in result.stderr and "streams failed: 0" in result.stderr
        db = state / "sellerguard.db"
        assert db.exists() and stat.S_IMODE(db.stat().st_mode) == 0o600
        assert {p.name for p in etc.iterdir()} == {"sellerguard.toml"}  # nothing written beside the config
        from sellerguard.store import Store

        store = Store(f"sqlite:///{db}", migrate=False, create=False)
        assert store.last_sync(tomllib.loads((etc / "sellerguard.toml").read_text())["accounts"][0]["id"],
                               ok=True) is not None
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
