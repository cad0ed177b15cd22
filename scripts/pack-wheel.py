#!/usr/bin/env python3
"""Packs the `resumable` binary and the pure-Python package into a platform wheel.

    python3 scripts/pack-wheel.py --binary PATH [--project python] [--out dist] [--platform TAG]

The wheel is laid out as ruff and uv lay out theirs (PEP 427/491):

    resumable/…                               the package (python/resumable/, no caches)
    resumable-<version>.data/scripts/resumable the binary: pip installs it into the
                                               environment's bin/ (executable)
    resumable-<version>.dist-info/METADATA     from python/pyproject.toml's [project]
    resumable-<version>.dist-info/WHEEL        Root-Is-Purelib: false, the tag
    resumable-<version>.dist-info/RECORD       sha256 and size of every file

Its name is resumable-<version>-py3-none-<platform>.whl. The platform tag is
`manylinux_<glibc major>_<minor>_<arch>` of this machine's glibc, which the binary
links dynamically (it needs at most that glibc), unless --platform names one.
Runs on the system python3 alone (3.11+, for tomllib; no other package). The
archive is reproducible: entries sorted, timestamps from SOURCE_DATE_EPOCH (or
1980-01-01). Prints the wheel's path.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import NoReturn

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        sys.exit("pack-wheel: reading pyproject.toml needs Python 3.11 or newer (tomllib), or the tomli package")

GENERATOR = "resumable scripts/pack-wheel.py"


def fail(message: str) -> NoReturn:
    sys.exit(f"pack-wheel: {message}")


def glibc_platform_tag() -> str:
    """`manylinux_<major>_<minor>_<arch>` of the running glibc."""
    version = None
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
        if value and value.startswith("glibc "):
            version = value.split()[1]
    except (AttributeError, OSError, ValueError):
        pass
    if version is None:
        library, found = platform.libc_ver()
        if library == "glibc" and found:
            version = found
    if version is None:
        fail("cannot tell this machine's glibc version (not a glibc system?); name the tag with --platform")
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        fail(f"unexpected glibc version {version!r}; name the tag with --platform")
    arch = platform.machine()
    if arch in {"amd64", "AMD64"}:
        arch = "x86_64"
    elif arch == "arm64":
        arch = "aarch64"
    return f"manylinux_{match.group(1)}_{match.group(2)}_{arch}"


def normalized(name: str) -> str:
    """The distribution name as wheel file names spell it (PEP 427, PEP 503)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def requirement_with_extra(requirement: str, extra: str) -> str:
    """`req; extra == "x"`, keeping a marker the requirement already has."""
    spec, _, marker = requirement.partition(";")
    marker = marker.strip()
    condition = f'extra == "{extra}"'
    return f"{spec.strip()}; ({marker}) and {condition}" if marker else f"{spec.strip()}; {condition}"


def metadata(project: dict, project_dir: Path) -> str:
    """METADATA (core metadata 2.1) from pyproject's [project] table."""
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    for person in project.get("authors", []):
        if "email" in person:
            who = f"{person['name']} <{person['email']}>" if "name" in person else person["email"]
            lines.append(f"Author-email: {who}")
        elif "name" in person:
            lines.append(f"Author: {person['name']}")
    license_ = project.get("license")
    if isinstance(license_, dict) and "text" in license_:
        lines.append(f"License: {license_['text']}")
    elif isinstance(license_, dict) and "file" in license_:
        lines.append(f"License: see {license_['file']}")
    elif isinstance(license_, str):
        lines.append(f"License: {license_}")
    for classifier in project.get("classifiers", []):
        lines.append(f"Classifier: {classifier}")
    for label, url in project.get("urls", {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for requirement in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {requirement}")
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for requirement in requirements:
            lines.append(f"Requires-Dist: {requirement_with_extra(requirement, extra)}")
    body = ""
    readme = project.get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    if isinstance(readme, str) and (project_dir / readme).is_file():
        kind = "text/markdown" if readme.endswith(".md") else "text/x-rst" if readme.endswith(".rst") else "text/plain"
        lines.append(f"Description-Content-Type: {kind}")
        body = "\n" + (project_dir / readme).read_text(encoding="utf-8")
    return "\n".join(lines) + "\n" + body


def package_files(project_dir: Path, packages: list[str]) -> list[tuple[str, Path]]:
    """(name in the wheel, file) for every file of the packages, caches left out."""
    files = []
    for package in packages:
        root = project_dir / package.replace(".", "/")
        if not (root / "__init__.py").is_file():
            fail(f"{root} is not a Python package (no __init__.py)")
        for path in sorted(root.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
                continue
            if path.is_symlink():
                fail(f"{path} is a symbolic link; a wheel holds regular files")
            files.append((path.relative_to(project_dir).as_posix(), path))
    return files


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the resumable executable to ship")
    parser.add_argument("--project", default="python", help="the directory of pyproject.toml (default: python)")
    parser.add_argument("--out", default="dist", help="where to write the wheel (default: dist)")
    parser.add_argument("--platform", help="the platform tag (default: manylinux_<glibc>_<arch> of this machine)")
    args = parser.parse_args()

    project_dir = Path(args.project)
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        fail(f"{pyproject} not found")
    with pyproject.open("rb") as f:
        config = tomllib.load(f)
    project = config.get("project") or fail(f"{pyproject} has no [project] table")
    for key in ("name", "version"):
        if not isinstance(project.get(key), str):
            fail(f"{pyproject} must set [project] {key} as a string (a dynamic {key} is not supported here)")
    packages = config.get("tool", {}).get("setuptools", {}).get("packages") or [normalized(project["name"])]
    binary = Path(args.binary)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        fail(f"{binary} is not an executable file")

    name, version = normalized(project["name"]), project["version"]
    tag = f"py3-none-{args.platform or glibc_platform_tag()}"
    dist_info = f"{name}-{version}.dist-info"
    data_dir = f"{name}-{version}.data"

    # (name in the wheel, bytes, executable)
    entries: list[tuple[str, bytes, bool]] = []
    for arcname, path in package_files(project_dir, packages):
        entries.append((arcname, path.read_bytes(), False))
    entries.append((f"{data_dir}/scripts/resumable", binary.read_bytes(), True))
    entries.sort(key=lambda e: e[0])
    wheel = f"Wheel-Version: 1.0\nGenerator: {GENERATOR}\nRoot-Is-Purelib: false\nTag: {tag}\n"
    entries.append((f"{dist_info}/METADATA", metadata(project, project_dir).encode("utf-8"), False))
    entries.append((f"{dist_info}/WHEEL", wheel.encode("utf-8"), False))
    record = "".join(f"{n},{record_hash(data)},{len(data)}\n" for n, data, _ in entries) + f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode("utf-8"), False))

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, the earliest a zip can say
    stamp = time.gmtime(max(epoch, 315532800))[:6]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}-{version}-{tag}.whl"
    fd, temporary = tempfile.mkstemp(prefix=".pack-wheel-", suffix=".whl", dir=out)
    os.close(fd)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for arcname, data, executable in entries:
                info = zipfile.ZipInfo(arcname, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100755 if executable else 0o100644) << 16
                info.create_system = 3  # Unix, so the mode bits above are read
                archive.writestr(info, data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp made it 0600
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
    print(target)


if __name__ == "__main__":
    main()
