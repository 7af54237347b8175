#!/usr/bin/env bash
# Reads `go test -bench` output and prints the medians that the goals are
# stated in: the full scan against the plain /proc read of the same run, and
# rule checks per second on one core.
set -euo pipefail
in=${1:-/dev/stdin}
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit}; if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { # col BENCH UNIT: the values of UNIT on BENCH's lines
  awk -v b="$1" -v u="$2" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=3;i<=NF;i++) if ($i==u) print $(i-1)}' "$in"
}
plain=$(col BenchmarkPlainRead ns/op | median)
scan=$(col BenchmarkScan ns/op | median)
procs=$(col BenchmarkScan procs | median)
checks=$(col BenchmarkEvaluate checks/s | median)
edid=$(col BenchmarkParse ns/op | median)
usb=$(col BenchmarkUSB ns/op | median)
usbplain=$(col BenchmarkUSBPlainRead ns/op | median)
disp=$(col BenchmarkDisplay ns/op | median)
dispplain=$(col BenchmarkDisplayPlainRead ns/op | median)
ingest=$(col BenchmarkIngest1000Agents ingest/raw | median)
ingestrate=$(col BenchmarkIngest1000Agents obs/s | median)
storeraw=$(col BenchmarkApplyVsRaw store/raw | median)
p50=$(col BenchmarkScanRoundTrip1000 p50-ms | median)
p99=$(col BenchmarkScanRoundTrip1000 p99-ms | median)
rscan=$(col BenchmarkResidentScan cpu-ms/scan | median)
evagent=$(col BenchmarkProcessEvent/agent cpu-us/start | median)
evbase=$(col BenchmarkProcessEvent/baseline cpu-us/start | median)
rss=$(col BenchmarkAgentIdle idle-RSS-MB | median)
anon=$(col BenchmarkAgentIdle idle-RssAnon-MB | median)
file=$(col BenchmarkAgentIdle idle-RssFile-MB | median)
base=$(col BenchmarkAgentIdle baseline-RSS-MB | median)
core=$(col BenchmarkAgentIdle %core@60s | median)
forks=$(col BenchmarkAgentIdle host-forks/s | median)
bfile=$(col BenchmarkAgentIdle baseline-RssFile-MB | median)
banon=$(col BenchmarkAgentIdle baseline-RssAnon-MB | median)
rss60=$(col BenchmarkAgentIdleAt60s idle-RSS-MB | median)
anon60=$(col BenchmarkAgentIdleAt60s idle-RssAnon-MB | median)
file60=$(col BenchmarkAgentIdleAt60s idle-RssFile-MB | median)
core60=$(col BenchmarkAgentIdleAt60s %core-measured | median)
scanms=$(col BenchmarkScanVsPs scan-ms | median)
psms=$(col BenchmarkScanVsPs ps-ms | median)
scanps=$(col BenchmarkScanVsPs scan/ps | median)
pgraw=$(col BenchmarkPostgresApplyVsRaw store/raw | median)
pgrate=$(col BenchmarkPostgresApplyVsRaw store-obs/s | median)
findp50=$(col BenchmarkFindObservations p50-ms | median)
findn=$(col BenchmarkFindObservations observations | median)
qp50=$(col BenchmarkQuery p50-ms | median)
qp99=$(col BenchmarkQuery p99-ms | median)
qscan=$(col BenchmarkQuery scan-ms | median)
qn=$(col BenchmarkQuery observations | median)
relay=$(col BenchmarkRelayScan relay-p50-ms | median)
relayratio=$(col BenchmarkRelayScan relay/direct | median)
relaydirect=$(col BenchmarkRelayScan direct-p50-ms | median)
awk -v rscan="$rscan" -v evagent="$evagent" -v evbase="$evbase" -v rss60="$rss60" -v anon60="$anon60" -v file60="$file60" -v core60="$core60" -v rss="$rss" -v anon="$anon" -v file="$file" -v base="$base" -v core="$core" -v forks="$forks" -v banon="$banon" -v bfile="$bfile" -v scanms="$scanms" -v psms="$psms" -v scanps="$scanps" -v p="$plain" -v s="$scan" -v n="$procs" -v c="$checks" -v e="$edid" -v u="$usb" -v up="$usbplain" -v d="$disp" -v dp="$dispplain" -v ir="$ingest" -v irate="$ingestrate" -v sr="$storeraw" -v p50="$p50" -v p99="$p99" -v pgraw="$pgraw" -v pgrate="$pgrate" -v findp50="$findp50" -v findn="$findn" -v relay="$relay" -v relayratio="$relayratio" -v relaydirect="$relaydirect" -v qp50="$qp50" -v qp99="$qp99" -v qscan="$qscan" -v qn="$qn" 'BEGIN {
  if (s != "nan") {
    printf "processes on the machine:            %s\n", n
    printf "plain /proc read, median:            %.1f ms\n", p/1e6
    printf "full scan, median:                   %.1f ms\n", s/1e6
    printf "scan / plain read:                   %.2fx   (goal: at most 2x)\n", s/p
  }
  if (c != "nan") printf "rule checks per second, one core:    %.0f   (goal: at least 1000000)\n", c
  if (e != "nan") printf "EDIDs parsed per second, one core:   %.0f   (goal: at least 1000000)\n", 1e9/e
  if (u != "nan") printf "usb sensor, 40 devices:              %.2f ms (plain read of the same files %.2f ms, %.2fx)\n", u/1e6, up/1e6, u/up
  if (d != "nan") printf "display sensor:                      %.2f ms (plain read of the same files %.2f ms, %.2fx)\n", d/1e6, dp/1e6, d/dp
  if (u != "nan" && d != "nan") printf "usb + display sensors:               %.2f ms   (goal: under 5 ms)\n", (u+d)/1e6
  if (ir != "nan") printf "ingest, 1000 agents:                 %.0f obs/s, %.2f of a raw insert in the same run (goal: at least 0.5)\n", irate, ir
  if (sr != "nan") printf "store apply alone:                   %.2f of a raw insert in the same run\n", sr
  if (p50 != "nan") printf "scan round trip, 1000 agents:        p50 %.2f ms, p99 %.2f ms (goal: p50 under 1 s)\n", p50, p99
  if (rscan != "nan") printf "resident agent, CPU a scan:          %.1f ms (one a minute: %.3f%% of a core, before the time between scans)\n", rscan, rscan/600
  if (evagent != "nan") printf "resident agent, CPU a program start: %.0f us (the benchmark process with the agent: %.0f us a start, without: %.0f us)\n", evagent-evbase, evagent, evbase
  if (rss != "nan") printf "agent idle RSS, scanning every 2 s:  %.1f MB (anon %.1f, file-backed %.1f; a blocking Go program %.1f: anon %.1f, file %.1f) (goal: at most 20 MB)\n", rss, anon, file, base, banon, bfile
  if (rss60 != "nan") printf "agent idle RSS, every 60 s:          %.1f MB (anon %.1f, file-backed %.1f), CPU %.3f%% of a core (goal: at most 20 MB, 0.1%%)\n", rss60, anon60, file60, core60
  if (core != "nan") printf "agent CPU at a 60 s interval:        %.3f%% of a core (goal: at most 0.1%%; a blocking Go program: 0; the machine started %s processes/s, each read and judged)\n", core, forks
  if (scanps != "nan") printf "farmwatch-agent scan vs ps -eo ...:  %.1f ms vs %.1f ms, %.2fx   (goal: at most 2x)\n", scanms, psms, scanps
  if (pgraw != "nan") printf "PostgreSQL apply, one at a time:     %.0f obs/s, %.2f of a raw insert in the same run\n", pgrate, pgraw
  if (findp50 != "nan") printf "indexed lookup over %.0f obs:      p50 %.2f ms (goal: at most 100 ms)\n", findn, findp50
  if (qp50 != "nan") printf "query on an indexed field, %.0f obs: p50 %.2f ms, p99 %.2f ms (goal: p50 at most 100 ms); on a field without an index %.1f s\n", qn, qp50, qp99, qscan/1000
  if (relay != "nan") printf "live scan relayed between replicas:  p50 %.2f ms, %.0fx a direct in-process call (%.3f ms)\n", relay, relayratio, relaydirect
}'
# The fleet benchmarks (make bench-fleet): the sizing table.
fleet() { col "$1" "$2" | median; }
for b in BenchmarkFleetSQLite BenchmarkFleetReplicas; do
  n=$(fleet $b connected)
  [ "$n" = nan ] && continue
  printf '%s: %s agents connected (%s errors), connect %s s; ack p50 %s ms, p99 %s ms; live scan p50 %s ms, p99 %s ms; hosts %s ms; peak RSS %s MB (%s MB per 1000 agents); collector CPU %s s; history %s KB/host/day; store %s KB/host\n' \
    "${b#Benchmark}" "$n" "$(fleet $b errors)" "$(fleet $b connect-s)" "$(fleet $b ack-p50-ms)" "$(fleet $b ack-p99-ms)" "$(fleet $b scan-p50-ms)" "$(fleet $b scan-p99-ms)" \
    "$(fleet $b hosts-ms)" "$(fleet $b peak-RSS-MB)" "$(fleet $b MB/1000-agents)" "$(fleet $b collector-cpu-s)" "$(fleet $b history-KB/host/day)" "$(fleet $b store-KB/host)"
done
