"""Course images: the busybox image built from the host's busybox, the optional Debian image."""
from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from virtlab import OWNER_VALUE, rootfs
from virtlab.core.registry import builds
from virtlab.lxd.client import (
    DEFAULT_IMAGE,
    IMAGE_OWNER_PROPERTY,
    LxdError,
    _http_timeout,
    _translate,
    _wait,
    connect,
)
from virtlab.lxd.instances import _image_exists
from virtlab.safety import (
    Deadline,
    course_name,
    human_bytes,
)


# --------------------------------------------------------------------------- images
def image_metadata(properties: dict[str, str], *, created: int | None = None) -> str:
    """The ``metadata.yaml`` of an LXD image, written by a serializer (never from strings).

    It is JSON, which is valid YAML 1.2 — LXD reads it as YAML — and needs no dependency
    (PyYAML is not one of pylxd's, and provisioning may run on Debian's bare python3)."""
    meta = {"architecture": os.uname().machine,
            "creation_date": int(time.time()) if created is None else created,
            "properties": {str(k): str(v) for k, v in properties.items()},
            "templates": {}}
    return json.dumps(meta, indent=2) + "\n"


def _busybox_image_tarball(dest: Path) -> Path:
    """Write a unified LXD image (metadata.yaml + rootfs/) holding a busybox system to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="vl-image-") as tmp:
        root = rootfs.build_busybox_tree(Path(tmp) / "rootfs", hostname="vl-busybox")
        # busybox init: no gettys (no console), a clean shutdown on SIGPWR (LXD's stop signal)
        (root / "etc/inittab").write_text("::shutdown:/bin/sync\n")
        (root / "etc/os-release").write_text('NAME="virtlab busybox"\nID=busybox\n'
                                             'PRETTY_NAME="virtlab busybox (course image)"\n')
        (root / "etc/hostname").write_text("vl-busybox\n")
        bb = rootfs.busybox_path()
        props = {"os": "busybox", "release": "static", "architecture": os.uname().machine,
                 "description": "virtlab course image: busybox, built offline",
                 IMAGE_OWNER_PROPERTY: OWNER_VALUE,
                 "virtlab.built_by": f"virtlab.lxd.build_images from {bb}"}
        meta = image_metadata(props)

        def as_root(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti

        with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
            data = meta.encode()
            ti = tarfile.TarInfo("metadata.yaml")
            ti.size, ti.mtime, ti.mode = len(data), int(time.time()), 0o644
            tar.addfile(ti, io.BytesIO(data))
            tar.add(root, arcname="rootfs", filter=as_root)
    return dest


def images(*, client: Any | None = None) -> list[dict[str, Any]]:
    """The course's images in LXD: aliases, fingerprint, size in bytes, properties."""
    client = client or connect()
    with _translate("list images"):
        items = client.api.images.get(params={"recursion": 1},
                                      timeout=(5.0, 30.0)).json()["metadata"]
    out = []
    for m in items:
        props = m.get("properties") or {}
        if props.get(IMAGE_OWNER_PROPERTY) == OWNER_VALUE:
            out.append({"aliases": sorted(a["name"] for a in m.get("aliases") or []),
                        "fingerprint": m["fingerprint"], "size": m.get("size"),
                        "properties": props})
    return out


def import_image(tarball: Path, alias: str, *, client: Any | None = None,
                 timeout: float = 120.0) -> str:
    """Import a unified image tarball and point ``alias`` at it; returns the fingerprint.

    An older course image under the same alias is deleted (never an image we did not build).
    """
    full = course_name(alias)
    client = client or connect()
    d = Deadline(timeout, f"import image {full}")
    with _translate(f"import image {full}"), open(tarball, "rb") as data:
        r = client.api.images.post(data=data, headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(Path(tarball).stat().st_size)}, timeout=_http_timeout(d))
    op = _wait(client, r, d)
    fp = (op.get("metadata") or {}).get("fingerprint")
    if not fp:
        raise LxdError(f"import image {full}: LXD returned no fingerprint ({op})")
    from pylxd import exceptions as pexc

    with _translate(f"alias {full}"):
        try:
            old = client.api.images.aliases[full].get(timeout=(5.0, 15.0)).json()["metadata"]
        except pexc.NotFound:
            old = None
        if old and old.get("target") != fp:
            client.api.images.aliases[full].put(json={"target": fp, "description": old.get(
                "description", "")}, timeout=(5.0, 15.0))
            old_props = client.api.images[old["target"]].get(
                timeout=(5.0, 15.0)).json()["metadata"].get("properties") or {}
            if old_props.get(IMAGE_OWNER_PROPERTY) == OWNER_VALUE:
                _wait(client, client.api.images[old["target"]].delete(timeout=(5.0, 30.0)),
                      Deadline(30, f"delete old image {old['target'][:12]}"))
        elif not old:
            client.api.images.aliases.post(json={"name": full, "target": fp,
                                                 "description": "virtlab course image"},
                                           timeout=(5.0, 15.0))
    return fp


def _present(client: Any, alias: str) -> str | None:
    if not _image_exists(client, alias):
        return None
    for img in images(client=client):
        if alias in img["aliases"]:
            return (f"{alias}: present ({img['fingerprint'][:12]}, "
                    f"{human_bytes(img['size'] or 0)})")
    return f"{alias}: present (not built by the course)"


@builds("lxd", order=20)
def build_images(force: bool = False, *, debian: bool | None = None) -> list[str]:
    """Build and import the course images; returns one line per image.

    ``vl-busybox`` (always): a static busybox root filesystem, about 1 MB, built offline in a
    second. ``vl-debian`` (only with ``debian=True`` or ``VIRTLAB_LXD_DEBIAN=1``): a minimal
    Debian with systemd from debootstrap — needs root, the Debian mirror, and about a minute.
    Images LXD already holds are kept (unless ``force``).
    """
    if debian is None:
        debian = os.environ.get("VIRTLAB_LXD_DEBIAN") == "1"
    client = connect()
    done = []
    have = None if force else _present(client, DEFAULT_IMAGE)
    if have:
        done.append(have)
    else:
        with tempfile.TemporaryDirectory(prefix="vl-image-") as tmp:
            t0 = time.monotonic()
            tarball = _busybox_image_tarball(Path(tmp) / "busybox.tar.gz")
            fp = import_image(tarball, DEFAULT_IMAGE, client=client)
            done.append(f"{DEFAULT_IMAGE}: imported {fp[:12]} "
                        f"({human_bytes(tarball.stat().st_size)}, {time.monotonic() - t0:.1f} s)")
    if debian:
        done.append(build_debian_image(force, client=client))
    return done


DEBIAN_IMAGE = "vl-debian"


def _apt_source() -> tuple[str, str]:
    """(mirror URL, suite) the host's apt uses: :func:`virtlab.rootfs.apt_source`."""
    return rootfs.apt_source()


def build_debian_image(force: bool = False, *, client: Any | None = None,
                       timeout: float = 900.0) -> str:
    """debootstrap a minimal Debian (minbase + systemd) and import it as ``vl-debian``."""
    import subprocess

    client = client or connect()
    have = None if force else _present(client, DEBIAN_IMAGE)
    if have:
        return have
    d = Deadline(timeout, "build the Debian image", "the mirror is slow or unreachable")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vl-image-", dir=rootfs.data_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        mirror, suite = rootfs.debootstrap(
            root, ["systemd-sysv"], d, error=LxdError,
            sudo_hint="sudo VIRTLAB_LXD_DEBIAN=1 virtlab images build --only lxd")
        props = {"os": "debian", "release": suite, "variant": "minbase+systemd",
                 "description": f"virtlab course image: Debian {suite} (debootstrap minbase)",
                 IMAGE_OWNER_PROPERTY: OWNER_VALUE,
                 "virtlab.built_by": f"virtlab.lxd.build_debian_image from {mirror}"}
        (Path(tmp) / "metadata.yaml").write_text(image_metadata(props))
        tarball = Path(tmp) / "debian.tar"
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-cf", str(tarball), "-C", tmp,
                        "metadata.yaml", "rootfs"], check=True, capture_output=True,
                       timeout=max(1.0, d.remaining()))
        fp = import_image(tarball, DEBIAN_IMAGE, client=client, timeout=max(1.0, d.remaining()))
        size = tarball.stat().st_size
    return (f"{DEBIAN_IMAGE}: imported {fp[:12]} ({human_bytes(size)}, "
            f"{time.monotonic() - t0:.0f} s)")
