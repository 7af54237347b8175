package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// FuzzParseLOLRMM: a catalogue file never panics the parser, which is
// deterministic; a parsed tool has a name and every string it holds comes
// from the file (a scalar of it, or a part of one); a refused file gives no
// tool.
func FuzzParseLOLRMM(f *testing.F) {
	f.Add([]byte(anydeskYAML))
	f.Add([]byte("Name: x\nDetails:\n    PEMetadata: ''\n"))
	f.Add([]byte("Name: x\nDetails:\n    PEMetadata: [1, 2]\n"))
	f.Add([]byte("Name: !!binary eA==\nArtifacts:\n    Registry:\n        - Path: HKLM\\\\SYSTEM\\\\CurrentControlSet\\\\Services\\\\a b\\\\x\n"))
	f.Add([]byte("Name: &n x\nDetails:\n    InstallationPaths: [*n, ' /opt/x ']\nArtifacts:\n    Other:\n        - {Type: Linux systemd service, Value: x.service}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseLOLRMM("f.yaml", b)
		again, err2 := parseLOLRMM("f.yaml", b)
		if (err == nil) != (err2 == nil) || !cmp.Equal(got, again) {
			t.Fatalf("two parses differ: %+v, %v / %+v, %v", got, err, again, err2)
		}
		if err != nil {
			if !cmp.Equal(got, tool{}) {
				t.Fatalf("refused file (%v) gave a tool %+v", err, got)
			}
			return
		}
		if got.File != "f.yaml" || got.Name == "" {
			t.Fatalf("tool %+v: want file f.yaml and a name", got)
		}
		scalars := scalarsOf(t, b)
		from := func(what, v string) {
			for _, s := range scalars {
				if strings.Contains(s, v) {
					return
				}
			}
			t.Fatalf("%s %q is in no scalar of the file %q", what, v, b)
		}
		from("Name", got.Name)
		for _, v := range got.SupportedOS {
			from("SupportedOS", v)
		}
		for _, pe := range got.PE {
			from("PE Filename", pe.Filename)
			from("PE OriginalFileName", pe.OriginalFileName)
		}
		for _, l := range [][]string{got.Paths, got.Services, got.Units, got.Launchd, got.DarwinNames} {
			for _, v := range l {
				from("value", v)
			}
		}
	})
}

// scalarsOf returns every scalar value of a YAML document as its decoder
// gives it to a string (a !!binary scalar decoded), plus each with "\\"
// read as "\" (registryService does so).
func scalarsOf(t *testing.T, b []byte) []string {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parseLOLRMM accepted a file yaml.Node refuses: %v", err)
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			v := n.Value
			if n.Tag == "!!binary" {
				var s string
				if n.Decode(&s) == nil {
					v = s
				}
			}
			out = append(out, v, strings.ReplaceAll(v, `\\`, `\`))
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out
}

// FuzzClassifyInstallPath: classification is deterministic and total. A
// value that is not blank either gives values or is dropped with a reason;
// every value is lower case, non-empty, bound for a known list, and belongs
// to the systems of that list.
func FuzzClassifyInstallPath(f *testing.F) {
	for _, s := range []string{`C:\Program Files (x86)\AnyDesk\*`, `%APPDATA%\x\`, `*\*\a.exe`, "/Applications/A.app",
		"~/x/", "/etc/systemd/system/a@.service", "a*.exe", "prose with spaces", `c:\*\`, "*", "", "x/", "/home/a/b", `" "`, `' /opt/x '`} {
		f.Add(s, uint8(osWindows|osLinux))
	}
	f.Add("/home/a/agent", uint8(osDarwin))
	f.Fuzz(func(t *testing.T, s string, sup uint8) {
		supported := osSet(sup) & (osWindows | osPosix)
		items, drops := classifyInstallPath(s, supported)
		items2, drops2 := classifyInstallPath(s, supported)
		if !cmp.Equal(items, items2, cmp.AllowUnexported(item{})) || !cmp.Equal(drops, drops2, cmp.AllowUnexported(dropped{})) {
			t.Fatalf("classifyInstallPath(%q) is not deterministic", s)
		}
		if strings.TrimFunc(s, spaceOrQuote) != "" && len(items)+len(drops) == 0 {
			t.Fatalf("classifyInstallPath(%q, %v): neither values nor a drop", s, supported)
		}
		for _, d := range drops {
			if d.reason == "" {
				t.Fatalf("classifyInstallPath(%q): drop without a reason %+v", s, d)
			}
		}
		for _, it := range items {
			if it.value == "" || it.list < 0 || it.list >= nLists || it.value != lowerASCII(it.value) {
				t.Fatalf("classifyInstallPath(%q) = %+v", s, it)
			}
			want := map[listID]osSet{lPathsWindows: osWindows, lPathsDarwin: osDarwin, lPathsLinux: osLinux, lSvcNames: osWindows | osPosix, lSvcGlobs: osWindows | osPosix,
				lProcNames: osWindows | osPosix, lProcGlobs: osWindows | osPosix, lNameStems: osWindows | osPosix, lProcNamesLinux: osLinux}[it.list]
			if it.os == 0 || it.os&^want != 0 {
				t.Fatalf("classifyInstallPath(%q) = %+v: systems %v do not fit %s", s, it, it.os, it.list)
			}
		}
	})
}
