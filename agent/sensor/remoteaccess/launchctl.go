package remoteaccess

import (
	"strconv"
	"strings"
)

// The parsers of launchctl's text output. They are pure and compile on
// every OS, so a macOS snapshot replays anywhere.

// parseLaunchctlPrint reads the "services" block of `launchctl print
// DOMAIN`: one job a line, its pid ("0" or "-" when it is loaded but not
// running), its last exit status and its label. It returns label -> pid.
func parseLaunchctlPrint(b []byte) map[string]int {
	out := map[string]int{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case !in:
			in = t == "services = {"
			continue
		case t == "}":
			return out
		}
		f := strings.Fields(t)
		if len(f) < 3 {
			continue
		}
		label := strings.Join(f[2:], " ")
		pid, err := strconv.Atoi(f[0])
		if f[0] == "-" {
			pid, err = 0, nil
		}
		if err != nil || pid < 0 {
			continue // the column headings, or not a job line
		}
		out[label] = pid
	}
	return out
}

// parsePrintDisabled parses the output of `launchctl print-disabled
// <domain>` into label → disabled. The output is blocks of quoted labels:
//
//	disabled services = {
//		"com.apple.screensharing" => disabled
//		"com.openssh.sshd" => enabled
//	}
//	login item associations = {
//		"com.docker.helper" => "com.docker.docker"
//	}
//
// macOS 13 (Ventura) and later print "enabled" or "disabled"; earlier
// releases print "false" (enabled) or "true" (disabled). Only the
// "disabled services" block (or entries outside any block) count; a label
// that is not listed has no override, and its plist's Disabled key decides.
func parsePrintDisabled(b []byte) map[string]bool {
	out := map[string]bool{}
	block := ""
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if name, ok := strings.CutSuffix(t, "= {"); ok {
			block = strings.TrimSpace(name)
			continue
		}
		if t == "}" {
			block = ""
			continue
		}
		if block != "" && block != "disabled services" {
			continue
		}
		i := strings.LastIndex(t, "=>")
		if i < 0 {
			continue
		}
		label, val := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+2:])
		if len(label) < 3 || label[0] != '"' || label[len(label)-1] != '"' {
			continue
		}
		label = label[1 : len(label)-1]
		switch val {
		case "disabled", "true":
			out[label] = true
		case "enabled", "false":
			out[label] = false
		}
	}
	return out
}

// parseLaunchctlList parses the output of `launchctl list`: a header line
// "PID\tStatus\tLabel", then one job a line, its pid "-" when it is loaded
// but not running. It returns label → pid, 0 for "-".
func parseLaunchctlList(b []byte) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		label := strings.Join(f[2:], " ")
		if f[0] == "-" {
			out[label] = 0
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid < 0 {
			continue // the header, or not a job line
		}
		out[label] = pid
	}
	return out
}
