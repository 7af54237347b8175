package remoteaccess

import (
	"strconv"
	"strings"
)

// maxLaunchctlDepth bounds the blocks parsePrintDisabled keeps open; deeper
// ones are counted but their names not kept, and nothing in them is read.
const maxLaunchctlDepth = 64

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
//
// `launchctl print gui/UID` and `launchctl print system` end with the same
// "disabled services" block, nested in the domain's own block beside
// blocks that nest further (security context, unmanaged processes): the
// parser keeps the stack of open blocks, so an entry counts only when the
// innermost open block is "disabled services" (or none is open).
func parsePrintDisabled(b []byte) map[string]bool {
	out := map[string]bool{}
	var blocks []string // the names of the open blocks, outermost first, up to maxLaunchctlDepth
	depth := 0
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if name, ok := strings.CutSuffix(t, "= {"); ok {
			if depth < maxLaunchctlDepth {
				blocks = append(blocks, strings.TrimSpace(name))
			}
			depth++
			continue
		}
		if t == "}" {
			if depth > 0 {
				depth--
				blocks = blocks[:min(depth, len(blocks))]
			}
			continue
		}
		if depth > 0 && (depth > len(blocks) || blocks[depth-1] != "disabled services") {
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
