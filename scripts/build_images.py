"""Build the Debian base images that Molecule runs on, without a registry.

Each image is `debootstrap --variant=minbase` plus the packages the roles and
tests need, imported with `docker import`. An image is tagged
`harden-tcp/debian:<release>` and labelled with a digest of its recipe (this
file, the package list, the release); it is rebuilt only when that digest
changes, so a second `make images` does nothing.

The Debian mirror is read from this machine's own apt sources, so no host name
is written into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RELEASES = ("bullseye", "bookworm", "trixie")
# What the roles and tests need inside a container: Ansible needs python3,
# the audit and tests read sockets with iproute2's ss and procfs tools, the
# nginx scenarios need a real nginx, and the sysctl differential tests run the
# release's own procps `sysctl --system` and systemd-sysctl (as a plain
# binary: systemd is not PID 1 in these containers).
PACKAGES = ("python3", "iproute2", "procps", "nginx", "systemd")
IMAGE_REPO = "harden-tcp/debian"
RECIPE_LABEL = "org.harden-tcp.recipe"
# The container keeps running with /proc/sys writable for its own network
# namespace; it needs CAP_SYS_ADMIN for the remount (README.md, "Tests").
CONTAINER_CMD = ["/bin/sh", "-c", "mount -o remount,rw /proc/sys && exec sleep infinity"]


def recipe_digest(release: str) -> str:
    """Return a short digest of everything that decides what the image holds."""
    recipe = {
        "release": release,
        "packages": PACKAGES,
        "cmd": CONTAINER_CMD,
        "builder": Path(__file__).read_bytes().decode(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def apt_source_lines(root: Path = Path("/etc/apt")) -> list[tuple[str, list[str]]]:
    """Return (uri, suites) pairs from one-line and deb822 apt sources."""
    entries: list[tuple[str, list[str]]] = []
    one_line = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match:
                entries.append((match.group(1), [match.group(2)]))
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(
                (key.strip().lower(), value.strip())
                for key, _sep, value in (
                    line.partition(":") for line in stanza.splitlines() if not line.startswith("#")
                )
                if value
            )
            if "deb" in fields.get("types", "").split() and "uris" in fields:
                for uri in fields["uris"].split():
                    entries.append((uri, fields.get("suites", "").split()))
    return entries


def debian_mirror() -> str:
    """Return the machine's Debian archive mirror (not the security archive)."""
    override = os.environ.get("HARDEN_TCP_DEBIAN_MIRROR")
    if override:
        return override
    for uri, suites in apt_source_lines():
        if uri.rstrip("/").endswith("/debian") and not any("security" in s for s in suites):
            return uri
    sys.exit(
        "build_images: no Debian mirror found in /etc/apt/sources.list{,.d}; "
        "set HARDEN_TCP_DEBIAN_MIRROR to one"
    )


def current_digest(tag: str) -> str | None:
    """Return the recipe label of an existing image, or None when absent."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{ json .Config.Labels }}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout or "null") or {}
    return labels.get(RECIPE_LABEL)


def build(release: str, mirror: str, digest: str, workdir: Path) -> None:
    """debootstrap one release into workdir and import it as the tagged image."""
    rootfs = workdir / release
    started = time.monotonic()
    print(f"build_images: {release}: debootstrap from {mirror}", flush=True)
    with open(workdir / f"{release}.log", "w") as log:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(PACKAGES),
                release,
                str(rootfs),
                mirror,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    # Trim what only the build needed: apt lists and the package cache.
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / leftover, ignore_errors=True)
        (rootfs / leftover).mkdir(parents=True, exist_ok=True)
    tag = f"{IMAGE_REPO}:{release}"
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(
        [
            "docker",
            "import",
            "--change",
            f"LABEL {RECIPE_LABEL}={digest}",
            "--change",
            "CMD " + json.dumps(CONTAINER_CMD),
            "-",
            tag,
        ],
        stdin=tar.stdout,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    if tar.wait() != 0:
        sys.exit(f"build_images: tar of {rootfs} failed")
    print(f"build_images: {release}: {tag} built in {time.monotonic() - started:.0f}s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("releases", nargs="*", help="any of %s (default: all)" % ", ".join(RELEASES))
    args = parser.parse_args()
    unknown = sorted(set(args.releases) - set(RELEASES))
    if unknown:
        parser.error(f"unknown release(s) {', '.join(unknown)}; choose from {', '.join(RELEASES)}")
    mirror = None
    for release in args.releases or RELEASES:
        tag = f"{IMAGE_REPO}:{release}"
        digest = recipe_digest(release)
        if current_digest(tag) == digest:
            print(f"build_images: {release}: {tag} is current (recipe {digest}), skipped")
            continue
        mirror = mirror or debian_mirror()
        with tempfile.TemporaryDirectory(prefix=f"harden-tcp-{release}-") as workdir:
            build(release, mirror, digest, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
