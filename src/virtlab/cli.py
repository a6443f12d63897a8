"""``virtlab`` on the command line: doctor, images, record, bench, cleanup.

Errors the course raises on purpose (:class:`virtlab.safety.VirtlabError`, ``ValueError``) are
printed as one clear line and exit with status 2 — never a traceback wall.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import textwrap
from collections.abc import Sequence

from virtlab import probe
from virtlab.safety import VirtlabError


def _table(rows: Sequence[tuple[str, str, str]]) -> str:
    w = max(len(r[0]) for r in rows)
    out = []
    for name, answer, how in rows:
        wrapped = textwrap.wrap(answer, 78) or [""]
        out.append(f"{name:<{w}}  {wrapped[0]}")
        out.extend(f"{'':<{w}}  {line}" for line in wrapped[1:])
        out.append(f"{'':<{w}}  · tested by: {how}")
    return "\n".join(out)


def tested_on() -> str:
    """The README's "tested on" line, generated from the probe."""
    try:
        import jupyterlab
    except ImportError:  # e.g. a bare `pip install virtlab` without the [lab] extra
        lab = "JupyterLab not installed"
    else:
        lab = f"JupyterLab {jupyterlab.__version__}"
    c = probe.capabilities()
    bits = [f"{c.kernel['os']}", f"Linux {c.kernel['release']}", f"Python {c.kernel['python']}", lab]
    if c.lxd.reachable:
        bits.append(f"{c.lxd.title} {c.lxd.version}")
    lv = c.libvirt.uris.get("qemu:///system", {})
    if lv.get("ok"):
        bits.append(f"libvirt {lv['version']}")
    bits.append(f"cgroups {c.cgroups.layout}")
    bits.append(f"VM accelerator {c.vm_accelerator.name.upper()}")
    return "Tested on: " + ", ".join(bits)


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.tested_on:
        print(tested_on())
        return 0
    caps = probe.capabilities()
    if args.json:
        from virtlab import modes

        d = caps.to_dict()
        d["sections"] = {s: modes.resolve(s, "auto").mode for s in modes.SECTIONS}
        # every LXD/Incus socket: which daemon answers, its version, the API differences that apply
        d["container_daemons"] = probe.container_daemons() if probe._daemons_wanted() else []
        print(json.dumps(d, indent=2, default=str))
    else:
        print(_table(probe.summary_rows(caps)))
    return 0


def _import_attr(mod: str, attr: str):  # noqa: ANN202
    try:
        return getattr(importlib.import_module(mod), attr)
    except ModuleNotFoundError as err:
        if err.name == mod:
            return None
        raise
    except AttributeError:
        return None


def cmd_images(args: argparse.Namespace) -> int:
    from virtlab.core import registry

    known = registry.builders()  # every @builds function of the package, in build order
    names = args.only.split(",") if args.only else list(known)
    for name in names:
        if name not in known:
            raise ValueError(f"unknown image {name!r}; known: {', '.join(known)}")
    for name in names:
        fn = known[name]
        print(f"{name}: building ...", flush=True)
        print(f"{name}: {fn(force=args.force)}")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from virtlab import modes

    known = modes.demos()
    keys = args.keys or sorted(known)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown demo(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in keys:
        print(f"recording {key} ...", flush=True)
        print(f"  wrote {modes.record(key)}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    from virtlab.core import registry

    failures = 0
    for mod, fn in registry.cleanups():  # every @cleans function of the package, in order
        try:
            removed = fn()
        except Exception as err:  # noqa: BLE001 - report every module, then fail once
            failures += 1
            print(f"{mod}: cleanup failed: {err}", file=sys.stderr)
            continue
        for item in removed or []:
            print(f"removed {item}")
    return 1 if failures else 0


def cmd_bench(args: argparse.Namespace) -> int:
    fn = _import_attr("virtlab.bench", "main")
    if fn is None:
        raise VirtlabError("this version has no benchmarks yet")
    return int(fn(args.rest) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="virtlab", description="Containers vs. VMs course helper")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("doctor", help="what this machine can do (each answer from a real attempt)")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--tested-on", action="store_true", help="one line for the README")
    d.set_defaults(func=cmd_doctor)
    i = sub.add_parser("images", help="build the course images offline")
    isub = i.add_subparsers(dest="action", required=True)
    b = isub.add_parser("build", help="build images (busybox rootfs, LXD images, tiny VM)")
    b.add_argument("--only", help="comma-separated image names (an unknown name lists the known ones)")
    b.add_argument("--force", action="store_true", help="rebuild even if present")
    b.set_defaults(func=cmd_images)
    r = sub.add_parser("record", help="re-record demos by running them live")
    r.add_argument("keys", nargs="*", help="demo keys (default: all)")
    r.set_defaults(func=cmd_record)
    c = sub.add_parser("cleanup", help="remove everything the course created (and nothing else)")
    c.set_defaults(func=cmd_cleanup)
    # prefix_chars="+": every option (--quick, -h ...) is passed through to virtlab.bench.main
    be = sub.add_parser("bench", help="measure containers vs VMs on this machine",
                        prefix_chars="+", add_help=False)
    be.add_argument("rest", nargs=argparse.REMAINDER)
    be.set_defaults(func=cmd_bench)
    args = p.parse_args(argv)
    try:
        from virtlab import modes

        modes.requested_mode()  # a bad VIRTLAB_MODE is an error for every command
        return int(args.func(args) or 0)
    except (VirtlabError, ValueError, LookupError) as err:
        print(f"virtlab: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("virtlab: interrupted; run `virtlab cleanup` to remove anything left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
