#!/usr/bin/env bash
# make demo: a live scan of this machine while a stand-in remote-access tool
# runs, then the same scan on bundled snapshots. Nothing here needs a network.
set -uo pipefail
agent=${1:-bin/farmwatch-agent}
hr() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

hr "1. Live scan of this machine ($(hostname))"
"$agent" scan
echo "(exit status $?)"

hr "2. Live scan while a process named 'anydesk' runs (a copy of /bin/sleep, harmless)"
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
cp /bin/sleep "$tmp/anydesk"
"$tmp/anydesk" 300 & pid=$!
sleep 0.2
"$agent" scan
echo "(exit status $?: 1 means findings at or above --fail-on high)"
kill $pid 2>/dev/null; wait $pid 2>/dev/null

for snap in testdata/hosts/linux-anydesk-rustdesk.txtar testdata/hosts/windows-screenconnect-anydesk.txtar testdata/hosts/macos-crd-teamviewer.txtar testdata/hosts/linux-pikvm-v4plus.txtar testdata/hosts/linux-astrill.txtar; do
  [ -f "$snap" ] || continue
  hr "3. Offline scan of a captured host: $snap"
  "$agent" scan --snapshot "$snap"
  echo "(exit status $?)"
done

hr "4. Why? --explain shows a rule, its sources and what it matched"
"$agent" scan --snapshot testdata/hosts/linux-anydesk-rustdesk.txtar --explain remote-access-multiple-vendors | head -40

cat <<'MSG'

Try next:
  bin/farmwatch-agent scan --format json | jq .findings
  bin/farmwatch-agent snapshot -o my-host.txtar      # record this machine for later or for the helpdesk
  bin/farmwatch-agent scan --snapshot my-host.txtar
  bin/farmwatch-agent rules list
MSG
exit 0
