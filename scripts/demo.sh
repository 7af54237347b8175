#!/usr/bin/env bash
# make demo: the helpdesk scan on this machine and on captured hosts, then a
# fleet: a collector (SQLite, TLS from init) with an agent on this machine
# and agents replaying captured hosts. Nothing here needs a network.
set -uo pipefail
bin=${1:-bin}
agent=$bin/farmwatch-agent
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

hr "3. A fleet: a collector and six agents; the organisation's exceptions (IT's TeamViewer) pushed to every agent"
data=$tmp/collector
"$collector" init --data "$data" | sed 's/^/  /'
port=$((20000 + RANDOM % 20000))
addr=127.0.0.1:$port
org_rules=testdata/hosts/windows-sanctioned-teamviewer.rules
web=127.0.0.1:$((port + 2))
"$collector" serve --data "$data" --listen "$addr" --metrics "127.0.0.1:$((port + 1))" --web "$web" \
  --rules "$org_rules" > "$tmp/collector.log" 2>&1 & pids+=($!)
sleep 0.5
run_agent() { # run_agent NAME [--snapshot FILE --hostname NAME]
  local name=$1; shift
  "$agent" run --collector "$addr" --ca "$data/ca.crt" --enroll-secret-file "$data/enroll-secret" \
    --state "$tmp/agent-$name" --interval 5s "$@" > "$tmp/agent-$name.log" 2>&1 & pids+=($!)
}
run_agent this-machine
for h in linux-anydesk-rustdesk linux-astrill macos-crd-teamviewer linux-pikvm-v4plus windows-sanctioned-teamviewer; do
  run_agent "$h" --snapshot "testdata/hosts/$h.txtar" --hostname "$h"
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

hr "7. The web console (HTTPS with the collector's certificate)"
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
