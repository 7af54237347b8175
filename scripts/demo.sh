#!/usr/bin/env bash
# make demo: the helpdesk scan on this machine and on captured hosts, then a
# fleet: a collector (SQLite, TLS from init) with an agent on this machine
# and agents replaying captured hosts. Nothing here needs a network.
set -uo pipefail
bin=${1:-bin}
agent=$bin/farmwatch-agent
agentd=$bin/farmwatch-agentd   # the resident agent, as the service runs it
collector=$bin/farmwatch-collector
hr() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

hr "1. Helpdesk: scan this machine ($(hostname)) while a process named 'anydesk' runs (a copy of /bin/sleep, harmless)"
cp /bin/sleep "$tmp/anydesk"
"$tmp/anydesk" 300 & sleeper=$!
sleep 0.2
"$agent" scan
echo "(exit status $?: 1 means findings at or above --fail-on high)"
kill $sleeper 2>/dev/null; wait $sleeper 2>/dev/null

hr "2. Helpdesk: scan captured hosts offline"
for snap in testdata/hosts/linux-pikvm-v4plus.txtar testdata/hosts/windows-screenconnect-anydesk.txtar; do
  echo "--- $snap"
  "$agent" scan --snapshot "$snap" | head -12
done

hr "3. A fleet: a collector and six agents (five captured hosts behind one router); the organisation's exceptions (IT's TeamViewer) pushed to every agent"
data=$tmp/collector
"$collector" init --data "$data" | sed 's/^/  /'
port=$((20000 + RANDOM % 20000))
addr=127.0.0.1:$port
org_rules=testdata/hosts/windows-sanctioned-teamviewer.rules
web=127.0.0.1:$((port + 2))
# The farm part (7.) needs: the roster, the organisation's office, and
# PROXY headers from the relay that plays each replayed laptop's router.
cat > "$tmp/roster.csv" <<'CSV'
hostname,person,email,country,region,city,timezone
farm-ann,Ann Lee,ann.lee@example.com,US,TX,Austin,America/Chicago
farm-bo,Bo Park,bo.park@example.com,US,WA,Seattle,America/Los_Angeles
farm-cy,Cy Kim,cy.kim@example.com,US,NY,New York,America/New_York
farm-di,Di Ng,di.ng@example.com,US,FL,Miami,America/New_York
office-1,Gus Hahn,gus@example.com,US,MA,Boston,America/New_York
office-2,Hal Ito,hal@example.com,US,MA,Boston,America/New_York
office-3,Ida Roy,ida@example.com,US,MA,Boston,America/New_York
office-4,Jo Vega,jo@example.com,US,MA,Boston,America/New_York
remote-eve,Eve Diaz,eve@example.com,US,CO,Denver,America/Denver
remote-fay,Fay Lund,fay@example.com,US,OR,Portland,America/Los_Angeles
CSV
cat > "$tmp/org.yaml" <<'YAML'
# Hosts that share only these are not co-located.
networks:
  - {name: boston-office, kind: office, egress: [203.0.113.0/28], gateways: ["00:25:90:00:00:01"]}
YAML
"$collector" serve --data "$data" --listen "$addr" --metrics "127.0.0.1:$((port + 1))" --web "$web" \
  --rules "$org_rules" --roster "$tmp/roster.csv" --org "$tmp/org.yaml" --proxy-protocol-from 127.0.0.1/32 \
  > "$tmp/collector.log" 2>&1 & pids+=($!)
sleep 0.5
run_agent() { # [to=ADDR] run_agent NAME [--snapshot FILE --hostname NAME]
  local name=$1; shift
  "$agentd" run --collector "${to:-$addr}" --ca "$data/ca.crt" --enroll-secret-file "$data/enroll-secret" \
    --state "$tmp/agent-$name" --interval 5s "$@" > "$tmp/agent-$name.log" 2>&1 & pids+=($!)
}
# The five captured hosts come from one house: a relay that plays its
# router (a load balancer's PROXY protocol header) gives them one egress IP.
go build -o "$tmp/proxyrelay" ./internal/proxyrelay || exit 2
"$tmp/proxyrelay" -to "$addr" "127.0.0.1:$((port + 9))=198.51.100.23" > "$tmp/relay-house.log" 2>&1 & pids+=($!)
run_agent this-machine
for h in linux-anydesk-rustdesk linux-astrill macos-crd-teamviewer linux-pikvm-v4plus windows-sanctioned-teamviewer; do
  to=127.0.0.1:$((port + 9)) run_agent "$h" --snapshot "testdata/hosts/$h.txtar" --hostname "$h"
done
export FARMWATCH_COLLECTOR=$addr FARMWATCH_CA=$data/ca.crt FARMWATCH_TOKEN
FARMWATCH_TOKEN=$(cat "$data/admin.token")
for i in $(seq 1 50); do
  n=$("$collector" hosts --format json 2>/dev/null | grep -c '"online": true')
  [ "$n" -ge 6 ] && break
  sleep 0.2
done
echo
"$collector" hosts
echo
"$collector" findings | cut -c1-160
hr "4. Scan one host through the collector, now"
"$collector" scan linux-pikvm-v4plus | head -8

hr "5. The organisation's rules on a host: IT's TeamViewer is sanctioned there (findings kept, marked suppressed)"
"$collector" host windows-sanctioned-teamviewer | sed -n '1,4p'
"$collector" findings --host windows-sanctioned-teamviewer --format json | grep -E '"(rule|suppressed_by)"' | paste - - | head -4

hr "6. What changed on a host, message by message"
"$collector" history linux-pikvm-v4plus --kind usb_device | head -6

hr "7. Farms: the five captured hosts behind one egress; four laptops of four people in one house; not an office of four (declared in --org) nor two remote workers"
# Each laptop is a captured host replayed with the network files of its
# place (its router's MAC, its Wi-Fi, the other laptops in its ARP table),
# behind a relay that plays its router: a PROXY header with its egress IP.
place() { # place NAME BASE SUBNET GW_MAC AP_MAC|- OWN_MAC [NEIGHBOUR_MAC...]
  local name=$1 base=$2 net=$3 gw=$4 ap=$5 own=$6; shift 6
  local f=$tmp/$name.txtar ifc=eth0 i=100
  [ "$ap" != - ] && ifc=wlan0
  { cat "testdata/hosts/$base.txtar"
    printf -- '-- root/sys/class/net/%s/type --\n1\n-- root/sys/class/net/%s/operstate --\nup\n' "$ifc" "$ifc"
    printf -- '-- root/sys/class/net/%s/address --\n%s\n' "$ifc" "$own"
    printf -- '-- root/proc/net/route --\nIface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n'
    printf '%s\t00000000\t01%02XA8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n' "$ifc" "$net"
    printf -- '-- root/proc/net/arp --\nIP address       HW type     Flags       HW address            Mask     Device\n'
    printf '192.168.%d.1 0x1 0x2 %s * %s\n' "$net" "$gw" "$ifc"
    for n in "$@"; do printf '192.168.%d.%d 0x1 0x2 %s * %s\n' "$net" $((i++)) "$n" "$ifc"; done
    if [ "$ap" != - ]; then
      printf -- '-- root/proc/net/wireless --\nInter-| sta-|\n face | tus |\nwlan0: 0000   54.  -56.  -256 0 0 0 0 0 0\n'
      printf -- '-- root/var/lib/NetworkManager/timestamps --\n[timestamps]\nhome=1795860000\n'
      printf -- '-- root/var/lib/NetworkManager/seen-bssids --\n[seen-bssids]\nhome=%s;\n' "$ap"
    fi
  } > "$f"
}
house_gw=f4:92:bf:00:01:01 house_ap=f4:92:bf:00:01:02 office_gw=00:25:90:00:00:01 office_ap=00:25:90:00:00:02
place farm-ann linux-anydesk-rustdesk 1 $house_gw $house_ap a4:83:e7:00:00:01 a4:83:e7:00:00:02 a4:83:e7:00:00:03
place farm-bo linux-crd-unattended 1 $house_gw $house_ap a4:83:e7:00:00:02 a4:83:e7:00:00:01 a4:83:e7:00:00:04
place farm-cy linux-tinypilot 1 $house_gw $house_ap a4:83:e7:00:00:03 a4:83:e7:00:00:04
place farm-di linux-nanokvm 1 $house_gw $house_ap a4:83:e7:00:00:04 a4:83:e7:00:00:01
for i in 1 2 3 4; do place office-$i linux-clean 20 $office_gw $office_ap a4:83:e7:00:01:0$i a4:83:e7:00:01:0$((i % 4 + 1)); done
place remote-eve linux-clean 30 f4:92:bf:00:30:01 f4:92:bf:00:30:02 a4:83:e7:00:02:01
place remote-fay linux-clean 40 a0:63:91:00:40:01 - a4:83:e7:00:02:02
relays=() n=10
for spec in farm-ann=198.51.100.7 farm-bo=198.51.100.7 farm-cy=198.51.100.7 farm-di=198.51.100.7 \
  office-1=203.0.113.10 office-2=203.0.113.10 office-3=203.0.113.10 office-4=203.0.113.10 \
  remote-eve=198.51.100.60 remote-fay=203.0.113.77; do
  name=${spec%%=*}
  relays+=("127.0.0.1:$((port + n))=${spec#*=}")
  "$agentd" run --collector "127.0.0.1:$((port + n))" --ca "$data/ca.crt" --enroll-secret-file "$data/enroll-secret" \
    --state "$tmp/agent-$name" --interval 5s --snapshot "$tmp/$name.txtar" --hostname "$name" > "$tmp/agent-$name.log" 2>&1 & pids+=($!)
  n=$((n + 1))
done
"$tmp/proxyrelay" -to "$addr" "${relays[@]}" > "$tmp/relay.log" 2>&1 & pids+=($!)
for i in $(seq 1 120); do # the clusters are recomputed within seconds of a change
  "$collector" farms --format json 2>/dev/null | grep -q '"farm-di"' && break
  sleep 0.5
done
sleep 3 # the last reports land
"$collector" farms
echo
echo "JSON for tools (farms --format json), the first cluster's pinned fields:"
"$collector" farms --format json | grep -E '^    "(id|severity|state|first_seen)"' | head -4
echo
echo "The farm's findings are on each member (findings --severity high):"
"$collector" findings --severity high | grep -E 'SEVERITY|farm-' | cut -c1-150
echo
echo "Which hosts the roster names, and a hunt: every online agent asked at once"
"$collector" roster show | head -4
"$collector" hunt --kind process 'lists.rmm_process_names.contains(process.name)' > "$tmp/hunt.txt"
cut -f1 "$tmp/hunt.txt" | grep -v '^asked ' | sort | uniq -c | awk '{print "  " $2 ": " $1 " remote-access process(es)"}'
grep '^asked ' "$tmp/hunt.txt"

hr "8. The web console (HTTPS with the collector's certificate)"
code=$(curl -s --cacert "$data/ca.crt" -o /dev/null -w '%{http_code}' "https://$web/login" 2>/dev/null)
echo "https://$web/login answers $code; without a session / sends the browser to /login:"
curl -s --cacert "$data/ca.crt" -o /dev/null -w '  GET / -> %{http_code} %{redirect_url}\n' "https://$web/" 2>/dev/null

cat <<MSG

The collector runs at $addr (data in $data). Try, in another terminal:
  export FARMWATCH_COLLECTOR=$addr FARMWATCH_CA=$data/ca.crt FARMWATCH_TOKEN=\$(cat $data/admin.token)
  $collector hosts
  $collector findings --all --format json
  $collector host linux-astrill
  $collector history $(hostname) --since 10m
  (edit a file in $org_rules: within 30 s every agent has the new rules; 'hosts --format json' shows rules_version)
  $collector scan $(hostname)
  $collector farms --all --format json
  $collector query --kind neighbor 'neighbor.gateway'
  curl -s http://127.0.0.1:$((port + 1))/metrics | grep farmwatch_

The web console is at https://$web/ (the certificate is the collector's own, from
$data/ca.crt: trust it or accept it once). Sign in with a token:
  the admin token:    cat $data/admin.token
  a helpdesk token:   $collector token create --role helpdesk --name analyst
MSG
if [ -t 0 ]; then
  echo "Press Ctrl-C to stop the collector and the agents."
  wait "${pids[0]}"
fi
exit 0
