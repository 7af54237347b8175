package bom

import (
	"io/fs"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCksum(t *testing.T) {
	for _, s := range []string{"", "a", "hello world\n", strings.Repeat("farmwatch", 1000)} {
		want := map[string]uint32{"": 4294967295, "a": 1220704766, "hello world\n": 3733384285}[s]
		if _, err := exec.LookPath("cksum"); err == nil {
			cmd := exec.Command("cksum")
			cmd.Stdin = strings.NewReader(s)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.ParseUint(strings.Fields(string(out))[0], 10, 32)
			want = uint32(n)
		} else if want == 0 {
			continue
		}
		if got := Cksum([]byte(s)); got != want {
			t.Errorf("Cksum(%.20q) = %d, want %d", s, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	in := []Entry{
		{Path: "./usr/local/bin/farmwatch-agent", Mode: 0o755, Size: 100, Checksum: 12345, MTime: 1700000000},
		{Path: ".", Mode: fs.ModeDir | 0o755},
		{Path: "./usr", Mode: fs.ModeDir | 0o755},
		{Path: "./Library", Mode: fs.ModeDir | 0o755},
		{Path: "./Library/Application Support", Mode: fs.ModeDir | 0o755, GID: 80},
		{Path: "./usr/local", Mode: fs.ModeDir | 0o755},
		{Path: "./usr/local/bin", Mode: fs.ModeDir | 0o755},
		{Path: "./usr/local/bin/fw", Mode: fs.ModeSymlink | 0o755, Link: "farmwatch-agent"},
	}
	b, err := Write(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	// Breadth first, each directory's children by name.
	want := []Entry{in[1], in[3], in[2], in[4], in[5], in[6], in[0], in[7]}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatal(d)
	}
	for _, bad := range [][]Entry{
		{{Path: "./a", Mode: 0o644}},
		{{Path: ".", Mode: fs.ModeDir}, {Path: "./a/b"}},
		{{Path: ".", Mode: fs.ModeDir}, {Path: "/abs"}},
		{{Path: ".", Mode: fs.ModeDir}, {Path: "./a"}, {Path: "./a"}},
	} {
		if _, err := Write(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func FuzzRead(f *testing.F) {
	b, _ := Write([]Entry{{Path: ".", Mode: fs.ModeDir | 0o755}, {Path: "./a", Mode: 0o644, Size: 1}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) { Read(data) })
}
