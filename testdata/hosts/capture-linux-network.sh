#!/usr/bin/env bash
# Captures the network hosts of testdata/hosts on this machine, as root,
# inside network namespaces of their own: the interfaces, routes, neighbour
# entries, resolv.conf and /etc/environment are real kernel and file state
# of the namespace, and the processes are real processes (the stand-in
# program, which only waits, under the tools' real paths and arguments).
# The host's own interfaces, routes and /etc are never touched: `ip netns
# exec` bind-mounts /etc/netns/NS/* over /etc for the captured agent only.
#
#   testdata/hosts/capture-linux-network.sh        # from the repository root
#
# This kernel has no wireguard link type, so wg0 is a tun device, as a
# userspace WireGuard (wireguard-go, boringtun) makes it.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v ip >/dev/null || { echo "needs iproute2 (ip)" >&2; exit 1; }
go build -o bin/farmwatch-agent ./agent
go build -o /tmp/fw-standin ./testdata/hosts/standin

NS=fw-capture
LAN=fw-capture-lan
made=()
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.2
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$LAN" 2>/dev/null || true
  rm -rf "/etc/netns/$NS"
  for f in "${made[@]:-}"; do [ -n "$f" ] && rm -rf "$f"; done
  if [ -n "${made_user:-}" ]; then userdel -r "$made_user" 2>/dev/null || true; made_user=; fi
  return 0
}
trap cleanup EXIT

place() { mkdir -p "$(dirname "$2")"; cp "$1" "$2"; made+=("$2"); }
start() { "$@" & pids+=($!); }

# A LAN: the laptop's namespace and a gateway namespace joined by a veth
# pair, 192.168.77.0/24 (the gateway is .1, the laptop .23).
lan() {
  ip netns add "$NS"
  ip netns add "$LAN"
  ip link add eth0 netns "$NS" type veth peer name lan0 netns "$LAN"
  ip -n "$NS" link set eth0 address 02:fa:17:00:00:23
  ip -n "$LAN" link set lan0 address f4:92:bf:10:20:01
  ip -n "$NS" link set lo up
  ip -n "$NS" link set eth0 up
  ip -n "$LAN" link set lan0 up
  ip -n "$NS" addr add 192.168.77.23/24 dev eth0
  ip -n "$LAN" addr add 192.168.77.1/24 dev lan0
  # Resolve the gateway's MAC for real: one UDP datagram makes the kernel ARP
  # for it (there is no ping here), and the ARP table then holds it.
  ip netns exec "$NS" bash -c "echo x > /dev/udp/192.168.77.1/9" && sleep 0.3
  mkdir -p "/etc/netns/$NS"
  printf 'nameserver 192.168.77.1\n' > "/etc/netns/$NS/resolv.conf"
}

snap() {
  sleep 0.3
  ip netns exec "$NS" bin/farmwatch-agent snapshot -o "testdata/hosts/$1.txtar"
}

# 1. linux-wireguard-socks: a full tunnel through wg0 (the default route
#    through it, the LAN route kept for the endpoint), DNS through the
#    tunnel, and a SOCKS proxy for everything in /etc/environment. A JetKVM
#    (OUI 30:52:53, ANCHORS.md) answers on the LAN: a permanent neighbour
#    entry, as a static ARP entry would be.
lan
ip -n "$NS" tuntap add dev wg0 mode tun
ip -n "$NS" link set wg0 mtu 1420 up
ip -n "$NS" addr add 10.66.0.2/24 dev wg0
ip -n "$NS" route add 198.51.100.20/32 via 192.168.77.1 dev eth0
ip -n "$NS" route add default dev wg0
ip -n "$NS" neigh add 192.168.77.50 lladdr 30:52:53:0a:0b:0c dev eth0 nud permanent
printf 'nameserver 10.66.0.1\n' > "/etc/netns/$NS/resolv.conf"
cat > "/etc/netns/$NS/environment" <<'EOF'
PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
all_proxy="socks5h://203.0.113.7:1080"
ALL_PROXY="socks5h://203.0.113.7:1080"
no_proxy="localhost,127.0.0.1,.corp.example"
EOF
snap linux-wireguard-socks
cleanup; made=(); pids=()

# 2. linux-astrill: Astrill installed at its real path (/usr/local/Astrill/
#    astrill, indicators.md 5.1) and running with its OpenVPN helper, its
#    tun interface carrying the default route, and AnyDesk running beside it
#    (the Mandiant farm laptops had both). A user alice has fcitx5 with the
#    Hangul input method enabled (the same profile as linux-korean-fcitx5,
#    testdata/hosts/src/linux-korean-fcitx5/root/home/alice/.config/fcitx5/profile).
lan
if ! id alice >/dev/null 2>&1; then
  useradd -m -s /bin/bash alice
  made_user=alice
fi
mkdir -p /home/alice/.config/fcitx5
cp testdata/hosts/src/linux-korean-fcitx5/root/home/alice/.config/fcitx5/profile /home/alice/.config/fcitx5/profile
made+=(/home/alice/.config/fcitx5)
ip -n "$NS" tuntap add dev tun0 mode tun
ip -n "$NS" link set tun0 up
ip -n "$NS" addr add 10.8.0.6/24 dev tun0
# OpenVPN's def1 form: two /1 routes over the default, not replacing it.
ip -n "$NS" route add default via 192.168.77.1 dev eth0
ip -n "$NS" route add 0.0.0.0/1 via 10.8.0.1 dev tun0
ip -n "$NS" route add 128.0.0.0/1 via 10.8.0.1 dev tun0
place /tmp/fw-standin /usr/local/Astrill/astrill
place /tmp/fw-standin /usr/local/Astrill/asovpnc
made+=(/usr/local/Astrill)
place /tmp/fw-standin /usr/bin/anydesk
start /usr/local/Astrill/astrill
start /usr/local/Astrill/asovpnc --config /tmp/.astrill/ovpn.conf
start /usr/bin/anydesk --service
snap linux-astrill
echo "captured: linux-wireguard-socks linux-astrill"
