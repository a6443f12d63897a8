#!/usr/bin/env bash
# Provision a lab VM (or CI) for the course: LXD + libvirt/QEMU, started, initialised, with the
# course images built offline. Idempotent: a second run changes nothing and takes seconds.
#
#   sudo labs/lab-vm/provision.sh [--offline] [--incus] [--user NAME] [--only base,lxd,incus,libvirt]
#   sudo labs/lab-vm/provision.sh --offline --classroom --learners a,b,c   (a class on one host)
#
#   --offline   run LXD inside an empty network namespace with its proxies on loopback, so nothing
#               leaves the machine (used by CI; see labs/lab-vm/README.md)
#   --incus     also install and start Incus (LXD's community fork) beside LXD: provision.d/25-incus.sh
#   --user      the learner to add to the lxd/libvirt groups (default: $SUDO_USER, if any)
#   --only      run only these parts
#   --classroom one host for a class: JupyterHub, learner accounts without root-equivalent groups,
#               per-learner limits (provision.d/50-classroom.sh; docs/classroom.md)
#   --learners  the classroom's learner accounts (comma-separated; created if missing)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OFFLINE=0
INCUS=0
CLASSROOM=0
CLASSROOM_LEARNERS=""
LEARNER="${SUDO_USER:-}"
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --offline) OFFLINE=1 ;;
    --incus) INCUS=1 ;;
    --user) LEARNER="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --classroom) CLASSROOM=1 ;;
    --learners) CLASSROOM_LEARNERS="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "provision.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" != 0 ]; then
  echo "provision.sh: must run as root (sudo $0 $*)" >&2; exit 2
fi
[[ ",$ONLY," == *",incus,"* ]] && INCUS=1  # --only incus asks for it too
export OFFLINE INCUS LEARNER REPO HERE CLASSROOM CLASSROOM_LEARNERS
# shellcheck source=provision.d/common.sh
. "$HERE/provision.d/common.sh"
start=$(date +%s)
for part in "$HERE"/provision.d/[0-9][0-9]-*.sh; do
  name="$(basename "$part" .sh)"; name="${name#??-}"
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
  step "== $name"
  # shellcheck disable=SC1090
  . "$part"
done
step "provisioned in $(( $(date +%s) - start )) s"
