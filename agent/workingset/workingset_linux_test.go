package workingset

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

const sampleMaps = `00400000-00d43000 r-xp 00000000 fe:00 11078855                           /usr/bin/farmwatch-agent
00d43000-018ed000 r--p 00943000 fe:00 11078855                           /usr/bin/farmwatch-agent
018ed000-019fe000 rw-p 014ed000 fe:00 11078855                           /usr/bin/farmwatch-agent
019fe000-03a46000 rw-p 00000000 00:00 0 
12b8f3400000-12b8f4000000 rw-p 00000000 00:00 0 
7f6cf121a000-7f6cf12b0000 r--p 00000000 fe:01 11078855                   /mnt/other/same-inode-other-disk
7f6cf1300000-7f6cf1310000 r--p 00000000 fe:00 11078856                   /usr/lib/other
7ffea45ad000-7ffea45ce000 rw-p 00000000 00:00 0                          [stack]
7f6cf1416000-7f6cf1418000 r-xp 00000000 00:00 0                          [vdso]
`

func TestExeRanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maps    string
		want    []span
		wantErr string
	}{
		{name: "code and read-only data, not the writable data nor other files", maps: sampleMaps,
			want: []span{{0x400000, 0xd43000}, {0xd43000, 0x18ed000}}},
		{name: "matched by inode after an upgrade replaced the binary",
			maps: "00400000-00500000 r-xp 00000000 fe:00 11078855 /usr/bin/farmwatch-agent (deleted)\n",
			want: []span{{0x400000, 0x500000}}},
		{name: "blank lines are skipped", maps: "\n\n" + sampleMaps[:strings.Index(sampleMaps, "\n")+1],
			want: []span{{0x400000, 0xd43000}}},
		{name: "not the executable", maps: "00400000-00500000 r-xp 00000000 fe:00 42 /usr/bin/x\n"},
		{name: "too few fields", maps: "00400000-00500000 r-xp 00000000 fe:00\n", wantErr: "line 1: 4 fields"},
		{name: "bad range", maps: "00500000-00400000 r-xp 00000000 fe:00 11078855 x\n", wantErr: `line 1: bad address range "00500000-00400000"`},
		{name: "not hex", maps: "zz-00400000 r-xp 00000000 fe:00 11078855 x\n", wantErr: "bad address range"},
		{name: "bad device", maps: "00400000-00500000 r-xp 00000000 fe00 11078855 x\n", wantErr: `bad device "fe00"`},
		{name: "bad inode", maps: "00400000-00500000 r-xp 00000000 fe:00 -1 x\n", wantErr: `bad inode "-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exeRanges([]byte(tc.maps), 0xfe, 0, 11078855)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %x, want %x", got, tc.want)
			}
		})
	}
}

func FuzzExeRanges(f *testing.F) {
	f.Add([]byte(sampleMaps))
	f.Add([]byte("00400000-00500000 r-xp 00000000 fe:00 11078855 /x (deleted)\n"))
	f.Add([]byte("ffffffffffffffff-0 r 0 :: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := exeRanges(b, 0xfe, 0, 11078855)
		for _, r := range got {
			if err == nil && r.end <= r.start {
				t.Fatalf("empty or reversed span %x", r)
			}
		}
	})
}

// TestTrim trims this test binary, both ways: its executable's pages
// leave the resident set, and the code still runs after (it is mapped or
// read back).
func TestTrim(t *testing.T) {
	for _, evict := range []bool{false, true} {
		t.Run(map[bool]string{false: "unmap", true: "evict"}[evict], func(t *testing.T) {
			// Touch more of the binary first, so there is something to give back.
			if _, err := exeRanges([]byte(sampleMaps), 0xfe, 0, 11078855); err != nil {
				t.Fatal(err)
			}
			tr, err := New()
			if err != nil {
				t.Fatal(err)
			}
			before := fileRSS()
			res, err := tr.Trim(evict)
			if errors.Is(err, ErrUnsupported) {
				t.Skipf("this kernel cannot trim: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			after := fileRSS()
			if res.Mappings < 2 {
				t.Errorf("trimmed %d mappings of the executable, want its code and its read-only data", res.Mappings)
			}
			if before <= 0 || after >= before {
				t.Errorf("file-backed RSS %d -> %d bytes: nothing given back", before, after)
			}
			if evict && (res.FileBefore <= 0 || res.FileAfter >= res.FileBefore) {
				t.Errorf("an evicting trim says file-backed RSS %d -> %d bytes", res.FileBefore, res.FileAfter)
			}
			t.Logf("file-backed RSS %d KiB -> %d KiB", before>>10, after>>10)
			// The code the trim gave back still runs.
			got, err := exeRanges([]byte(sampleMaps), 0xfe, 0, 11078855)
			if err != nil || len(got) != 2 {
				t.Fatalf("after the trim: %v, %v", got, err)
			}
			if _, err := os.ReadFile("/proc/self/status"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
