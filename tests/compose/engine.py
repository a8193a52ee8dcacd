"""A Docker engine and the images compose.yaml names, wherever the boot test runs.

Where no engine answers, Debian's ``docker.io`` is started by hand (and stopped again
afterwards). Each upstream image is used if present, pulled if a registry answers, and
otherwise built from ``tests/compose/standins/`` under the same tag, on a Debian base
made with ``debootstrap``; stand-ins carry the label ``org.herald.standin``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.compose.test_compose_files import ROOT

STANDINS = Path(__file__).with_name("standins")
BASE = "herald-standin/debian:bookworm"
MIRROR = os.environ.get("HERALD_DEBIAN_MIRROR", "http://deb.debian.org/debian")
LABEL = "org.herald.standin=true"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "herald-boot"


def log(message: str) -> None:
    print(f"[boot] {message}", flush=True)


def run(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def apt_install(*packages: str) -> None:
    log(f"installing {' '.join(packages)} from Debian")
    run("apt-get", "update", "-qq")
    run("apt-get", "install", "-y", "-qq", *packages)


@contextlib.contextmanager
def engine() -> Iterator[None]:
    """A Docker engine for the duration; one started here is stopped here."""
    if answers():
        yield
        return
    if not shutil.which("dockerd"):
        apt_install("docker.io")
    log("starting dockerd")
    with tempfile.NamedTemporaryFile("w", prefix="dockerd-", suffix=".log", delete=False) as out:
        daemon = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; see {out.name}")
            time.sleep(1)
        yield
    finally:
        log("stopping dockerd")
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def present(image: str) -> bool:
    return run("docker", "image", "inspect", image, check=False, timeout=60).returncode == 0


def is_standin(image: str) -> bool:
    labels = "{{ json .Config.Labels }}"
    result = run("docker", "image", "inspect", "--format", labels, image, check=False, timeout=60)
    return '"org.herald.standin":"true"' in result.stdout


def standin_for(image: str) -> Path:
    name = image.split(":")[0].rsplit("/", 1)[-1]
    folder = STANDINS / name
    if not (folder / "Dockerfile").exists():
        raise RuntimeError(f"{image} cannot be pulled and there is no stand-in for it")
    return folder


def base() -> None:
    """A minimal Debian image from debootstrap, once per machine."""
    if present(BASE):
        return
    if not shutil.which("debootstrap"):
        apt_install("debootstrap")
    log(f"debootstrap bookworm for {BASE}")
    with tempfile.TemporaryDirectory(prefix="herald-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run("debootstrap", "--variant=minbase", "bookworm", str(rootfs), MIRROR, timeout=900)
        # Package scripts must not try to start services inside an image build.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run_in = subprocess.run(
            ["docker", "import", "--change", f"LABEL {LABEL}", "-", BASE],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=600,
        )
        tar.wait()
        if run_in.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {run_in.stderr}")


def ensure(image: str) -> str:
    """Make ``image`` available; say where it came from."""
    if present(image):
        return "stand-in" if is_standin(image) else "present"
    if run("docker", "pull", "-q", image, check=False, timeout=600).returncode == 0:
        return "pulled"
    folder = standin_for(image)
    base()
    log(f"building the stand-in for {image}")
    run("docker", "build", "-q", "--label", LABEL, "-t", image, str(folder), timeout=1200)
    return "stand-in"


def python_image() -> str:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError("the Dockerfile names no PYTHON_IMAGE")


@contextlib.contextmanager
def wheelhouse() -> Iterator[None]:
    """Fill deploy/wheelhouse for a build whose containers reach no package index.

    The wheels come from this machine's pip, for its Python, which is the stand-in's
    (Debian's) Python's minor version too; they are cached by the hash of pyproject.toml and removed
    from deploy/ afterwards, so that a later build with the real image is unaffected.
    """
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes()
        + (ROOT / "clients" / "python" / "pyproject.toml").read_bytes()
    ).hexdigest()[:16]
    cached = CACHE / f"wheels-{digest}"
    if not cached.exists():
        log("building the wheelhouse")
        partial = cached.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--wheel-dir",
            str(partial),
            str(ROOT),
            # Herald's own client, which it depends on and no index serves.
            str(ROOT / "clients" / "python"),
            "setuptools",
            # Debian's Python is 3.11.2; redis needs this below 3.11.3, this machine may not.
            "async-timeout",
        )
        partial.rename(cached)
    target = ROOT / "deploy" / "wheelhouse"
    copied = []
    for wheel in cached.glob("*.whl"):
        if not wheel.name.startswith("herald-"):  # Herald itself is built from the source
            shutil.copy(wheel, target / wheel.name)
            copied.append(target / wheel.name)
    try:
        yield
    finally:
        for wheel in copied:
            wheel.unlink(missing_ok=True)
