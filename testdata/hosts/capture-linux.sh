#!/usr/bin/env bash
# Captures the Linux hosts of testdata/hosts on this machine, as root, with
# real processes running under the names, paths, arguments and users that
# the real tools use, and their systemd units installed and enabled as
# their packages install them. The stand-in program only waits (standin/).
#
#   testdata/hosts/capture-linux.sh            # from the repository root
#
# This machine runs no systemd, so the marks systemd leaves for running
# units (/run/systemd/units/invocation:<unit>) are made by hand, as systemd
# would make them. Everything is removed again afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
go build -o bin/farmwatch-agent ./agent
go build -o /tmp/fw-standin ./testdata/hosts/standin

made=()
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for f in "${made[@]:-}"; do [ -n "$f" ] && rm -rf "$f"; done
  id alice >/dev/null 2>&1 && userdel -r alice 2>/dev/null || true
}
trap cleanup EXIT

place() { # place SRC DEST: install a file and remember to remove it
  mkdir -p "$(dirname "$2")"; cp "$1" "$2"; made+=("$2")
}
unit() { # unit PATH CONTENT
  mkdir -p "$(dirname "$1")"; printf '%s' "$2" > "$1"; made+=("$1")
}
enable() { # enable TARGET.wants UNIT UNITFILE
  mkdir -p "/etc/systemd/system/$1"; ln -sf "$3" "/etc/systemd/system/$1/$2"; made+=("/etc/systemd/system/$1/$2")
}
running() { # running UNIT: the invocation link systemd keeps for an active unit
  mkdir -p /run/systemd/units; ln -sf "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" "/run/systemd/units/invocation:$1"
  made+=("/run/systemd/units/invocation:$1")
}
start() { # start USER ARGV...: run a stand-in as USER with that argv
  local user=$1; shift
  # setpriv execs the program itself, so no wrapper process sits above it.
  if [ "$user" = root ]; then "$@" & else setpriv --reuid="$user" --regid="$user" --init-groups -- "$@" & fi
  pids+=($!)
}
snap() {
  sleep 0.3
  bin/farmwatch-agent snapshot -o "testdata/hosts/$1.txtar"
}

# 1. A clean Linux host: this machine as it is.
snap linux-clean

# 2. AnyDesk and RustDesk, installed from their packages and running.
id alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice
place /tmp/fw-standin /usr/bin/anydesk
place /tmp/fw-standin /usr/bin/rustdesk
# AnyDesk's .deb unit (ExecStart=/usr/bin/anydesk --service; LOLRMM/nixpkgs).
unit /usr/lib/systemd/system/anydesk.service '[Unit]
Description=AnyDesk
Requires=network.target
After=systemd-user-sessions.service

[Service]
Type=simple
ExecStart=/usr/bin/anydesk --service
PIDFile=/var/run/anydesk.pid
KillMode=mixed
TimeoutStopSec=30
User=root
LimitNOFILE=100000

[Install]
WantedBy=multi-user.target
'
# RustDesk's unit (repo rustdesk/rustdesk res/rustdesk.service).
unit /usr/lib/systemd/system/rustdesk.service '[Unit]
Description=RustDesk
Requires=network.target
After=systemd-user-sessions.service

[Service]
Type=simple
ExecStart=/usr/bin/rustdesk --service
ExecStop=/usr/bin/pkill -f "rustdesk --"
PIDFile=/run/rustdesk.pid
KillMode=mixed
TimeoutStopSec=30
User=root
LimitNOFILE=100000

[Install]
WantedBy=multi-user.target
'
enable multi-user.target.wants anydesk.service /usr/lib/systemd/system/anydesk.service
enable multi-user.target.wants rustdesk.service /usr/lib/systemd/system/rustdesk.service
running anydesk.service
running rustdesk.service
start root /usr/bin/anydesk --service
start alice /usr/bin/anydesk --tray
start root /usr/bin/rustdesk --service
start alice /usr/bin/rustdesk --server
snap linux-anydesk-rustdesk
# Back to a clean machine before the next host.
for p in "${pids[@]}"; do kill "$p"; done; pids=()
for f in "${made[@]}"; do rm -rf "$f"; done; made=()
sleep 0.2

# 3. Chrome Remote Desktop set up for unattended access for alice
#    (Chromium remoting/host/installer/linux: chrome-remote-desktop@.service,
#    /opt/google/chrome-remote-desktop/chrome-remote-desktop-host).
place /tmp/fw-standin /opt/google/chrome-remote-desktop/chrome-remote-desktop-host
place /tmp/fw-standin /opt/google/chrome-remote-desktop/chrome-remote-desktop
made+=(/opt/google)
unit /usr/lib/systemd/system/chrome-remote-desktop@.service '[Unit]
Description=Chrome Remote Desktop instance for %I
After=network.target

[Service]
Type=simple
User=%i
Environment=XDG_SESSION_CLASS=user XDG_SESSION_TYPE=x11
PAMName=chrome-remote-desktop
TTYPath=/dev/chrome-remote-desktop
ExecStart=/opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session
ExecReload=/opt/google/chrome-remote-desktop/chrome-remote-desktop --reload
ExecStop=/opt/google/chrome-remote-desktop/chrome-remote-desktop --stop
StandardOutput=journal
StandardError=inherit
RestartForceExitStatus=41

[Install]
WantedBy=multi-user.target
'
enable multi-user.target.wants chrome-remote-desktop@alice.service /usr/lib/systemd/system/chrome-remote-desktop@.service
running chrome-remote-desktop@alice.service
start alice /opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session
start alice /opt/google/chrome-remote-desktop/chrome-remote-desktop-host --host-config=- --audio-pipe-name=/home/alice/.config/chrome-remote-desktop/pulseaudio#1a2b3c4d5e/fifo_output --server-supports-exact-resize --ssh-auth-sockname=/tmp/chromoting.alice.ssh_auth_sock --signal-parent
snap linux-crd-unattended
echo "captured: linux-clean linux-anydesk-rustdesk linux-crd-unattended"
