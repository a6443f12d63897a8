"""LXD/Incus client: the socket, connect(), error translation, operations with deadlines, the
``lxc``/``incus`` CLI.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from virtlab import OWNER_KEY, OWNER_VALUE, daemons, modes, probe
from virtlab.safety import (
    Deadline,
    DeadlineExceeded,
    VirtlabError,
    course_name,
    is_course_name,
)

#: the course's default image (alias) — busybox, built offline by :func:`build_images`
DEFAULT_IMAGE = "vl-busybox"


#: limits every course instance gets unless told otherwise
DEFAULT_MEMORY = "128MiB"


DEFAULT_CPU = 1


DEFAULT_PROCESSES = 200


#: image property that marks an image as the course's (``virtlab.owner`` in ``lxc image info``)
IMAGE_OWNER_PROPERTY = "virtlab.owner"


DAEMON_HINT = daemons.LXD.start_hint  # LXD's; errors name the daemon in question (_hint())


GROUP_HINT = daemons.LXD.group_hint


def _expected() -> daemons.Daemon:
    """The daemon we are about to talk to, before it has answered (for hints)."""
    try:
        return daemons.wanted() or next((d for d, s in daemons.socket_candidates()
                                         if os.path.exists(s)), daemons.LXD)
    except ValueError:
        return daemons.LXD


class LxdError(VirtlabError, RuntimeError):
    """LXD refused an operation (the message is LXD's own, plus what to do)."""


class LxdUnavailable(LxdError):
    """No LXD daemon can be reached: no socket, daemon stopped, or permission denied."""


class ExecResult(NamedTuple):
    """What :meth:`Instance.exec` returns; unpacks as ``code, out, err``."""

    code: int
    out: str
    err: str


# --------------------------------------------------------------------------- connecting
def socket_path() -> str:
    """The daemon's unix socket to use: the first of :func:`virtlab.daemons.socket_candidates`
    that exists (``$LXD_DIR``/``$INCUS_DIR`` when set, never second-guessed; else LXD's, then
    Incus's default paths; only one daemon's with ``VIRTLAB_CONTAINER_DAEMON``).

    Raises :class:`LxdUnavailable` when there is none (not installed or not running).
    """
    try:
        cands = probe.lxd_socket_candidates()
        want = daemons.wanted()
    except ValueError as err:
        raise LxdUnavailable(str(err)) from None
    for cand in cands:
        if os.path.exists(cand):
            return cand
    who = want.title if want else "LXD or Incus"
    hint = (want or daemons.LXD).start_hint
    raise LxdUnavailable(f"no {who} socket found (looked at {', '.join(cands)}): the daemon is "
                         f"not running here. To fix: {hint}")


def _requests_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidURL, ConnectionError, socket.timeout)


def connect(*, timeout: float = 10.0, socket_file: str | None = None) -> Any:
    """Connect to the local LXD or Incus daemon and return a ``pylxd.Client``.

    Clear errors (:class:`LxdUnavailable`) for: no socket (daemon not running), a socket we may
    not open (not in group ``lxd``/``incus-admin``), a daemon that does not answer within
    ``timeout`` seconds (stopped or hung), a server that is neither LXD nor Incus, and one that
    is not the daemon ``VIRTLAB_CONTAINER_DAEMON`` asks for. :func:`daemon_of` says which it is.
    ``socket_file`` connects to that socket instead of :func:`socket_path`'s.
    """
    sock = socket_file or socket_path()
    exp = _expected()
    if not os.access(sock, os.R_OK | os.W_OK):
        raise LxdUnavailable(f"permission denied on {sock}. To fix: {exp.group_hint}")
    try:
        import pylxd
        from pylxd import exceptions as pexc
    except ImportError:
        raise LxdUnavailable("the Python package pylxd is not installed. To fix: `make lab` "
                             "(or `pip install pylxd`)") from None
    try:
        # the URL form works with every pylxd (older ones skip a socket path: not a regular file)
        # a project only where one is set: Debian's python3-pylxd (2.2), which provisioning
        # uses before `make lab` made the venv, knows no projects
        proj = {"project": project()} if project() is not None else {}
        client = pylxd.Client(endpoint="http+unix://" + quote(sock, safe=""),
                              timeout=(min(timeout, 5.0), timeout), **proj)
    except TypeError as err:
        raise LxdUnavailable(f"this pylxd ({getattr(pylxd, '__version__', '?')}) knows no LXD "
                             f"projects ({err}). To fix: `make lab` (the course's venv has a "
                             "newer pylxd)") from None
    except (pexc.ClientConnectionFailed, *_requests_errors()) as err:
        text = str(err)
        if "Permission denied" in text or "Errno 13" in text:
            raise LxdUnavailable(f"permission denied on {sock}. To fix: {exp.group_hint}") from None
        raise LxdUnavailable(f"{exp.title} does not answer on {sock} ({type(err).__name__}): the "
                             f"daemon is stopped or hung. To fix: {exp.start_hint}") from None
    except PermissionError:
        raise LxdUnavailable(f"permission denied on {sock}. To fix: {exp.group_hint}") from None
    try:
        d = daemon_of(client)
    except LookupError as err:
        raise LxdUnavailable(f"{sock}: {err}; set LXD_DIR or INCUS_DIR to the directory of "
                             "the daemon's unix.socket") from None
    want = daemons.wanted()
    if want is not None and want is not d:
        raise LxdUnavailable(f"the server on {sock} is {d.title}, but {daemons.ENV_VAR}="
                             f"{want.key} asks for {want.title}; set {want.dir_env} to the "
                             f"directory of its unix.socket")
    if client.host_info.get("auth") != "trusted":
        raise LxdUnavailable(f"{d.title} on {sock} does not trust us. To fix: {d.group_hint}")
    return client


PROJECT_ENV = "VIRTLAB_LXD_PROJECT"


def project() -> str | None:
    """The LXD project to work in: ``$VIRTLAB_LXD_PROJECT`` (a classroom learner's own restricted
    project, see :mod:`virtlab.classroom`), else None (the daemon's default project)."""
    return os.environ.get(PROJECT_ENV) or None


def privileged_refused(client: Any | None = None) -> str | None:
    """Why this project cannot hold a privileged container (a classroom learner's restricted
    project forbids them), or None when it can. For a demo's ``requires=``."""
    name = project()
    if name is None:
        return None  # the default project: LXD allows privileged containers there
    reason = (f"a project that allows privileged containers (yours, {name}, is restricted: LXD "
              "forbids them there; the cell shows the recording made on a lab VM)")
    try:
        client = client or connect()
        cfg = client.api.projects[name].get().json()["metadata"]["config"]
    except Exception:  # noqa: BLE001 - unreadable: assume the classroom's restrictions hold
        return reason
    if cfg.get("restricted") == "true" and cfg.get("restricted.containers.privilege") != "allow":
        return reason
    return None


def daemon_of(client: Any) -> daemons.Daemon:
    """Which daemon ``client`` talks to (from its ``GET /1.0``: ``environment.server``)."""
    return daemons.by_server((client.host_info.get("environment") or {}).get("server"))


def daemon() -> daemons.Daemon:
    """The daemon :func:`connect` reaches (LXD or Incus); raises :class:`LxdUnavailable`."""
    return daemon_of(connect())


def _api_error(err: BaseException) -> str:
    resp = getattr(err, "response", None)
    if resp is not None:
        try:
            return str(resp.json().get("error") or resp.text)
        except ValueError:
            return str(resp.text)
    return str(err)


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Turn pylxd/requests failures inside the block into the course's clear errors."""
    from pylxd import exceptions as pexc

    try:
        yield
    except pexc.NotFound as err:
        raise LookupError(f"{what}: not found ({_api_error(err)})") from None
    except pexc.LXDAPIException as err:
        raise LxdError(f"{what}: {_expected().title} says: {_api_error(err)}") from None
    except _requests_errors() as err:
        d = _expected()
        if "timed out" in str(err).lower() or isinstance(err, socket.timeout):
            raise LxdUnavailable(f"{what}: {d.title} stopped answering (timeout). To fix: "
                                 f"{d.start_hint}") from None
        raise LxdUnavailable(f"{what}: the connection to {d.title} failed ({type(err).__name__}): "
                             f"the daemon has stopped. To fix: {d.start_hint}") from None


def _http_timeout(deadline: Deadline) -> tuple[float, float]:
    return (5.0, deadline.remaining() + 5.0)


#: (connect, read) HTTP timeouts of one 1-second operation poll: a stopped or hung daemon is
#: reported within about 4 s, even in the middle of a long operation
POLL_TIMEOUT = (2.0, 4.0)


def url_name(url: str) -> str:
    """The last path segment of an LXD resource URL: ``/1.0/instances/c1/snapshots/s?project=p``
    -> ``s``. LXD lists a project's resources with ``?project=`` appended; a plain split keeps it."""
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def _wait(client: Any, response: Any, deadline: Deadline) -> dict[str, Any]:
    """Wait for the asynchronous operation in ``response`` until ``deadline``; return its body."""
    body = response.json()
    if body.get("type") != "async":
        return body.get("metadata") or {}
    op_id = url_name(body["operation"])
    node = client.api.operations[op_id]
    while True:
        # short server-side waits (they return at once when the operation ends), so a daemon
        # that stops or hangs mid-way is noticed within POLL_TIMEOUT seconds
        try:
            with _translate(deadline.what):
                op = node.wait.get(params={"timeout": 1}, timeout=POLL_TIMEOUT).json()
        except LxdUnavailable:
            raise
        except LxdError as err:
            # daemons.WAIT_TIMEOUT_IS_ERROR (Incus): a wait that runs out is an error, not the
            # still-running operation, so ask for the operation itself
            if not (daemon_of(client).has(daemons.WAIT_TIMEOUT_IS_ERROR)
                    and "deadline exceeded" in str(err)):
                raise
            with _translate(deadline.what):
                op = node.get(timeout=POLL_TIMEOUT).json()
        op = op.get("metadata") or {}
        status = op.get("status")
        if status == "Success":
            return op
        if status in ("Failure", "Cancelled"):
            who = daemon_of(client).title
            raise LxdError(f"{deadline.what}: {who} says: {op.get('err') or status}")
        if deadline.expired():
            raise DeadlineExceeded(deadline.what, deadline.seconds, deadline.hint)


def unique_name(stem: str = "tmp") -> str:
    """A fresh course name like ``vl-tmp-3f9a1c`` (for tests and throw-away instances)."""
    return course_name(f"{stem}-{secrets.token_hex(3)}")


def _owned(meta: dict[str, Any]) -> bool:
    return (is_course_name(meta.get("name", ""))
            and (meta.get("config") or {}).get(OWNER_KEY) == OWNER_VALUE)


def _exists(client: Any, name: str) -> bool:
    from pylxd import exceptions as pexc

    try:
        with contextlib.suppress(pexc.NotFound):
            client.api.instances[name].get(timeout=(5.0, 15.0))
            return True
    except _requests_errors() as err:
        d = daemon_of(client)
        raise LxdUnavailable(f"{d.title} stopped answering ({type(err).__name__}). To fix: "
                             f"{d.start_hint}") from None
    return False


# --------------------------------------------------------------------------- measurements
def cli_command(client: Any | None = None) -> list[str]:
    """The daemon's command-line client as an argv prefix (``lxc`` for LXD, ``incus`` for
    Incus: daemons.CLI_INCUS); LxdUnavailable when it is not installed."""
    d = daemon_of(client or connect())
    exe = shutil.which(d.cli)
    if exe is None:
        pkg = "lxd-client" if d is daemons.LXD else "incus-client"
        raise LxdUnavailable(f"the `{d.cli}` command-line client of {d.title} is not installed "
                             f"(Debian: {pkg})")
    return [exe]


def cli_env(client: Any | None = None) -> dict[str, str]:
    """The environment for :func:`cli_command`: the daemon's directory (``LXD_DIR``/``INCUS_DIR``)
    pointing at the socket this module uses."""
    d = daemon_of(client or connect())
    return {**os.environ, d.dir_env: str(Path(socket_path()).parent)}


def _lxc(args: Sequence[str], timeout: float = 60.0, client: Any | None = None) -> str:
    from virtlab import core

    client = client or connect()
    argv = [*cli_command(client), *args]
    name = daemon_of(client).cli
    res = core.run(argv, Deadline(timeout, f"{name} {args[0]}"), env=cli_env(client))
    if res.returncode != 0:
        raise LxdError(f"{name} {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def _cannot(backend: modes.Backend, missing: str, fix: str) -> None:
    """A part of a demo cannot run here. Where live was merely the best mode, the demo goes on
    and its view says what is missing; where live was demanded (``VIRTLAB_MODE=live``,
    ``virtlab record``) that would be a degraded result, so it is an error."""
    if backend.forced:
        raise modes.CapabilityMissing(backend.section, "live", missing, fix)
