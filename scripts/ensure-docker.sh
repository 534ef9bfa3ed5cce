#!/bin/sh
# Make sure a Docker engine answers, and that busybox and caddy are installed
# (deployer builds its images FROM scratch from these host binaries: busybox
# now, caddy for the proxy later).
#
# - An engine that already answers (Docker Desktop, a server's dockerd,
#   whatever DOCKER_HOST or the docker context points at) is used as it is:
#   docker.io is not installed and nothing is started.
# - As root, with apt-get: installs Debian's docker.io, busybox-static and
#   caddy, whichever are missing (apt-get update once, only when something is
#   missing). When no engine answers, starts dockerd in its own session, so
#   that neither Ctrl-C in the terminal nor test.sh's cleanup stops it; it
#   outlives this run on purpose. Then waits up to 60 s for it to answer.
# - Without root: says in one line what is missing and exits 1. A missing
#   caddy is only a warning, as nothing uses it yet.
#
# Binaries are found only through PATH, and logs go to ${TMPDIR:-/tmp}, so
# that tests can put stubs in their place (tests/unit/ensure-docker.test.ts).
# Does not guarantee: that the busybox found is the static one, nor that a
# dockerd started here comes back after a reboot.
#
# Usage: sh scripts/ensure-docker.sh   (stdout stays empty; messages on stderr)
set -eu

log_dir=${TMPDIR:-/tmp}
dockerd_log=$log_dir/deployer-dockerd.log
apt_log=$log_dir/deployer-apt.log
# dockerd's exec root, where it keeps its pid files; the tests point it elsewhere.
run_dir=${DEPLOYER_DOCKER_RUN_DIR:-/var/run}
pidfile=$run_dir/docker.pid
containerd_pidfile=$run_dir/docker/containerd/containerd.pid
wait_s=60

say() { echo "ensure-docker: $*" >&2; }

has() { command -v "$1" >/dev/null 2>&1; }

is_root() { [ "$(id -u)" = 0 ]; }

# The engine's error, if any, is kept in $engine_error.
engine_answers() {
  if ! has docker; then
    engine_error="the docker command is not installed"
    return 1
  fi
  # A hung engine must not hang us: bound each probe when timeout exists.
  if has timeout; then
    set -- timeout 20 docker
  else
    set -- docker
  fi
  if engine_error=$("$@" version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
    return 0
  fi
  return 1
}

# The Debian packages for the binaries that are missing, among those named.
missing_packages() {
  pkgs=""
  for bin in "$@"; do
    has "$bin" && continue
    case $bin in
      docker | dockerd) pkg=docker.io ;;
      busybox) pkg=busybox-static ;;
      caddy) pkg=caddy ;;
    esac
    case " $pkgs " in
      *" $pkg "*) ;;
      *) pkgs="$pkgs $pkg" ;;
    esac
  done
  # docker.io only recommends apparmor, but on a kernel with AppArmor enabled
  # its dockerd cannot start a container without apparmor_parser.
  case " $pkgs " in
    *" docker.io "*)
      if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && ! has apparmor_parser; then
        pkgs="$pkgs apparmor"
      fi
      ;;
  esac
  echo "${pkgs# }"
}

# apt-get install the packages named; one line and exit 1 on failure.
install_packages() {
  say "installing $* with apt-get (log: $apt_log)"
  mkdir -p "$log_dir"
  # dpkg may say that policy-rc.d denied starting a service, or that there is
  # no systemd: fine, dockerd is started below when nothing else started it.
  # The lock timeout lets two first runs at once take turns.
  if ! {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@"
  } >"$apt_log" 2>&1 </dev/null; then
    tail -n 20 "$apt_log" >&2 || true
    say "apt-get could not install $* (see above, or $apt_log)"
    exit 1
  fi
}

# 1. An engine answers: only busybox and caddy matter.
if engine_answers; then
  pkgs=$(missing_packages busybox caddy)
  [ -z "$pkgs" ] && exit 0
  if is_root && has apt-get; then
    install_packages $pkgs
    exit 0
  fi
  case " $pkgs " in
    *" busybox-static "*)
      say "busybox is missing; install busybox-static (apt-get install busybox-static, as root) and try again"
      exit 1
      ;;
  esac
  say "warning: caddy is missing; the proxy and static servers need it (apt-get install caddy, as root)"
  exit 0
fi

# 2. No engine answers. Only the local default socket is ours to start.
case ${DOCKER_HOST:-} in
  "" | unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
  *)
    say "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine (or unset DOCKER_HOST) and try again"
    exit 1
    ;;
esac
case $engine_error in
  *"permission denied"*)
    say "Docker is running but I may not use it (permission denied); add this user to the docker group (or set DOCKER_HOST) and try again"
    exit 1
    ;;
esac
if ! is_root; then
  if ! has docker; then
    say "Docker is not installed and I am not root, so I cannot install it; install Docker and try again"
    exit 1
  fi
  say "Docker is not running and I am not root, so I cannot start it; start Docker (or set DOCKER_HOST) and try again"
  exit 1
fi

pkgs=$(missing_packages docker dockerd busybox caddy)
if [ -n "$pkgs" ]; then
  if ! has apt-get; then
    say "Docker is not running and apt-get is not available to install $pkgs; install Docker and try again"
    exit 1
  fi
  install_packages $pkgs
  # Where systemd runs, installing docker.io also started it.
  engine_answers && exit 0
fi
if ! has dockerd; then
  say "dockerd is not on PATH even though docker.io is installed; add /usr/sbin to PATH and try again"
  exit 1
fi

# The pid in file $1 if it names a live process called $2. A file naming a
# live process of another name is stale (its pid was reused, e.g. after a
# reboot: /run is not always a tmpfs) and is removed here, because dockerd
# refuses to start while docker.pid names any live process, and takes the
# process containerd.pid names for its containerd (and may end up killing
# it). A file naming a dead process is left: dockerd overwrites it, and
# replaces a stale docker.sock itself.
live_pid() {
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null || true)
  case $pid in
    "" | *[!0-9]*) return 1 ;;
  esac
  kill -0 "$pid" 2>/dev/null || return 1
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$2" ]; then
    echo "$pid"
    return 0
  fi
  say "removing $1: it names pid $pid, which is not $2"
  rm -f "$1"
  return 1
}

# 3. Start dockerd, unless one is already starting up, and wait for it.
if pid=$(live_pid "$pidfile" dockerd); then
  say "dockerd (pid $pid) is running but not answering yet; waiting up to ${wait_s} s"
  started=""
else
  live_pid "$containerd_pidfile" containerd >/dev/null || true
  mkdir -p "$log_dir"
  # Its own session and process group (setsid), no terminal, and no file
  # descriptor of ours beyond 2 (a caller waiting on a pipe must not wait for
  # dockerd too). In a non-interactive shell a background job is never a
  # process group leader, so setsid execs dockerd without forking: $! is it.
  if has setsid; then
    setsid dockerd </dev/null >"$dockerd_log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  else
    nohup dockerd </dev/null >"$dockerd_log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  fi
  pid=$!
  started=1
  say "started dockerd (log: $dockerd_log)"
fi

deadline=$(($(date +%s) + wait_s))
until engine_answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    engine_answers && break
    # Ours lost the race to a dockerd that another run started at the same
    # time (it refuses to start while the pid file names a live dockerd).
    if other=$(live_pid "$pidfile" dockerd); then
      say "dockerd (pid $other), started by someone else, is starting; waiting for it instead"
      pid=$other
      started=""
      continue
    fi
    if [ -n "$started" ]; then
      tail -n 20 "$dockerd_log" >&2 || true
      say "dockerd exited without answering (see above, or $dockerd_log)"
    else
      say "dockerd (pid $pid) exited without answering; see its log"
    fi
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    if [ -n "$started" ]; then
      tail -n 20 "$dockerd_log" >&2 || true
      say "dockerd (pid $pid) did not answer within ${wait_s} s (see above, or $dockerd_log); it is still running"
    else
      say "dockerd (pid $pid) did not answer within ${wait_s} s; see its log"
    fi
    exit 1
  fi
  sleep 0.2
done
