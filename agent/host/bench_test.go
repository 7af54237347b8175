package host

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// BenchmarkParse reads snapshots whose size grows tenfold, then eightfold:
// a linear reader keeps its MB/s. Each input is also given to txtar.Parse
// alone, the floor that no reader of the format can beat, in the same run.
//
//	deep:    one path of n levels ("/a/a/a..."), refused past MaxPathDepth
//	shallow: n files in 100 directories, a large legitimate snapshot
//	links:   n links into a directory reached through another link
//
//	go test -run '^$' -bench Parse -benchtime 20x -count 6 ./agent/host
func BenchmarkParse(b *testing.B) {
	inputs := []struct {
		name string
		data func(n int) []byte
	}{
		{"deep", func(n int) []byte {
			return []byte(benchMeta + "-- root" + strings.Repeat("/a", n) + " --\nx\n")
		}},
		{"shallow", func(n int) []byte {
			var s strings.Builder
			s.WriteString(benchMeta)
			for i := range n {
				fmt.Fprintf(&s, "-- root/d%02d/f%d --\nx\n", i%100, i)
			}
			return []byte(s.String())
		}},
		{"links", func(n int) []byte {
			var s strings.Builder
			s.WriteString(benchMeta + "-- root/real/f --\nx\n-- link/lib (base64) --\nL3JlYWw=\n")
			for i := range n {
				fmt.Fprintf(&s, "-- link/l/%d (base64) --\nL2xpYi9m\n", i) // "/lib/f"
			}
			return []byte(s.String())
		}},
	}
	for _, in := range inputs {
		for _, n := range []int{1000, 10000, 80000} {
			data := in.data(n)
			b.Run(fmt.Sprintf("%s/n=%d/txtar", in.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					txtar.Parse(data)
				}
			})
			b.Run(fmt.Sprintf("%s/n=%d/snapshot", in.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					ParseSnapshot(data)
				}
			})
		}
	}
}

const benchMeta = "-- snapshot.json --\n{\"os\":\"linux\",\"hostname\":\"h\"}\n"

// BenchmarkOpen opens a captured snapshot for a replay.
func BenchmarkOpen(b *testing.B) {
	const file = "../../testdata/hosts/linux-anydesk-rustdesk.txtar"
	for b.Loop() {
		h, err := Open(file)
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}
