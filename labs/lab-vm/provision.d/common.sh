# Shared helpers for provision.d/*.sh (sourced, not run).
step() { printf '[provision] %s\n' "$*"; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }
has_systemd() { [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }
# wait_for SECONDS WHAT COMMAND...: poll until COMMAND succeeds, or fail with a clear message.
wait_for() {
  local secs="$1" what="$2"; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "$what did not come up within ${secs} s"
    sleep 0.2
  done
}
# Without an init system, package scripts must not try to start services: a policy-rc.d that
# answers 101 says so. It exists only while provisioning runs: created if absent (never one that
# was there before), removed when the script exits (an EXIT trap: a script sourcing this file
# that sets its own EXIT trap calls policy_rc_release in it). VIRTLAB_POLICY_RC moves it (tests).
POLICY_RC="${VIRTLAB_POLICY_RC:-/usr/sbin/policy-rc.d}"
POLICY_RC_OURS=0
policy_rc_release() {
  if [ "$POLICY_RC_OURS" = 1 ]; then rm -f "$POLICY_RC"; POLICY_RC_OURS=0; fi
}
policy_rc_block() {
  has_systemd && return 0
  [ -e "$POLICY_RC" ] && return 0
  trap policy_rc_release EXIT
  POLICY_RC_OURS=1
  printf '#!/bin/sh\nexit 101\n' > "$POLICY_RC"; chmod +x "$POLICY_RC"
}
APT_UPDATED=0
# apt_install PKG...: install what is missing (no recommends), nothing if all are present.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "need packages ${missing[*]} but this is not a Debian/Ubuntu system"
  policy_rc_block
  if [ "$APT_UPDATED" = 0 ]; then step "apt-get update"; apt-get update -q >/dev/null; APT_UPDATED=1; fi
  step "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
