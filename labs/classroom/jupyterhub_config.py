# JupyterHub for a virtlab classroom: one host, one account and server per learner.
# Started by labs/classroom/classroom.sh (root); see docs/classroom.md.
#
# - the hub and its proxy listen on 127.0.0.1 only (put a TLS reverse proxy in front for a class)
# - PAM: learners log in with their Unix account; only provisioned learners are allowed
# - each learner's server runs as that learner (LocalProcessSpawner), inside the cgroup subtree
#   provisioning delegated to them (their memory/CPU/process allowance covers the server too),
#   with the environment that reaches their own restricted LXD project through the gate
import os
import pwd
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner

from virtlab import classroom

STATE = Path(os.environ.get("VIRTLAB_CLASSROOM_STATE", "/var/lib/virtlab-classroom"))
VENV = Path(os.environ.get("VIRTLAB_CLASSROOM_VENV", "/opt/virtlab-classroom/venv"))
NODE = Path(os.environ.get("VIRTLAB_CLASSROOM_NODE", "/opt/virtlab-classroom/node"))
LEARNERS = {u for u in os.environ.get("VIRTLAB_CLASSROOM_LEARNERS", "").split(",") if u}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def learner_cgroups(user: str) -> list[Path]:
    """The learner's delegated subtree in every hierarchy (v1 hybrid) or the v2 one."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mnt, fstype, *_ = line.split()
        if fstype in ("cgroup", "cgroup2"):
            d = Path(mnt) / "virtlab-learners" / user
            if (d / "cgroup.procs").exists():
                found.append(d)
    return found


class ClassroomSpawner(LocalProcessSpawner):
    """LocalProcessSpawner + the learner's cgroup subtree, runtime dir and LXD gate settings."""

    def get_env(self):
        env = super().get_env()
        user = self.user.name
        uid = pwd.getpwnam(user).pw_uid
        env.update(classroom.learner_env(user))
        env["XDG_RUNTIME_DIR"] = f"/run/user/{uid}"  # the learner's qemu:///session lives there
        env["PATH"] = f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin"
        return env

    def make_preexec_fn(self, name):
        demote = super().make_preexec_fn(name)
        dirs = learner_cgroups(name)
        uid = pwd.getpwnam(name).pw_uid
        run = Path(f"/run/user/{uid}")
        run.mkdir(parents=True, exist_ok=True)
        os.chown(run, uid, -1)
        os.chmod(run, 0o700)

        def preexec():
            pid = str(os.getpid())
            for d in dirs:  # still root here: join the learner's subtree, then become them
                try:
                    (d / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            demote()

        return preexec


c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("VIRTLAB_CLASSROOM_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.ConfigurableHTTPProxy.command = [str(NODE / "node_modules/.bin/configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = LEARNERS
c.PAMAuthenticator.open_sessions = False  # no systemd/logind here; nothing to open
c.JupyterHub.spawner_class = ClassroomSpawner
c.Spawner.cmd = [str(VENV / "bin/jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.shutdown_on_logout = False
