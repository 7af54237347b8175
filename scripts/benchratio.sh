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
rss=$(col BenchmarkAgentIdle idle-RSS-MB | median)
anon=$(col BenchmarkAgentIdle idle-RssAnon-MB | median)
file=$(col BenchmarkAgentIdle idle-RssFile-MB | median)
base=$(col BenchmarkAgentIdle baseline-RSS-MB | median)
core=$(col BenchmarkAgentIdle %core@60s | median)
forks=$(col BenchmarkAgentIdle host-forks/s | median)
bfile=$(col BenchmarkAgentIdle baseline-RssFile-MB | median)
banon=$(col BenchmarkAgentIdle baseline-RssAnon-MB | median)
scanms=$(col BenchmarkScanVsPs scan-ms | median)
psms=$(col BenchmarkScanVsPs ps-ms | median)
scanps=$(col BenchmarkScanVsPs scan/ps | median)
awk -v rss="$rss" -v anon="$anon" -v file="$file" -v base="$base" -v core="$core" -v forks="$forks" -v banon="$banon" -v bfile="$bfile" -v scanms="$scanms" -v psms="$psms" -v scanps="$scanps" -v p="$plain" -v s="$scan" -v n="$procs" -v c="$checks" -v e="$edid" -v u="$usb" -v up="$usbplain" -v d="$disp" -v dp="$dispplain" -v ir="$ingest" -v irate="$ingestrate" -v sr="$storeraw" -v p50="$p50" -v p99="$p99" 'BEGIN {
  printf "processes on the machine:            %s\n", n
  printf "plain /proc read, median:            %.1f ms\n", p/1e6
  printf "full scan, median:                   %.1f ms\n", s/1e6
  printf "scan / plain read:                   %.2fx   (goal: at most 2x)\n", s/p
  printf "rule checks per second, one core:    %.0f   (goal: at least 1000000)\n", c
  if (e != "nan") printf "EDIDs parsed per second, one core:   %.0f   (goal: at least 1000000)\n", 1e9/e
  if (u != "nan") printf "usb sensor, 40 devices:              %.2f ms (plain read of the same files %.2f ms, %.2fx)\n", u/1e6, up/1e6, u/up
  if (d != "nan") printf "display sensor:                      %.2f ms (plain read of the same files %.2f ms, %.2fx)\n", d/1e6, dp/1e6, d/dp
  if (u != "nan" && d != "nan") printf "usb + display sensors:               %.2f ms   (goal: under 5 ms)\n", (u+d)/1e6
  if (ir != "nan") printf "ingest, 1000 agents:                 %.0f obs/s, %.2f of a raw insert in the same run (goal: at least 0.5)\n", irate, ir
  if (sr != "nan") printf "store apply alone:                   %.2f of a raw insert in the same run\n", sr
  if (p50 != "nan") printf "scan round trip, 1000 agents:        p50 %.2f ms, p99 %.2f ms (goal: p50 under 1 s)\n", p50, p99
  if (rss != "nan") printf "agent idle RSS:                      %.1f MB (anon %.1f, file-backed %.1f; a blocking Go program %.1f: anon %.1f, file %.1f) (goal: at most 20 MB)\n", rss, anon, file, base, banon, bfile
  if (core != "nan") printf "agent CPU at a 60 s interval:        %.3f%% of a core (goal: at most 0.1%%; a blocking Go program: 0; the machine started %s processes/s, each read and judged)\n", core, forks
  if (scanps != "nan") printf "farmwatch-agent scan vs ps -eo ...:  %.1f ms vs %.1f ms, %.2fx   (goal: at most 2x)\n", scanms, psms, scanps
}'
