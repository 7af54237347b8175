package process

import "testing"

func TestVerElems(t *testing.T) {
	for _, c := range []struct {
		start, length, p, n, size, want uintptr
	}{
		{1000, 100, 1000, 10, 4, 10}, // inside
		{1000, 100, 1090, 10, 4, 2},  // a claimed length past the end is cut
		{1000, 100, 1099, 1, 2, 0},   // half an element
		{1000, 100, 999, 1, 1, 0},    // before the block
		{1000, 100, 1100, 1, 1, 0},   // after it
		{1000, 100, 1000, 1 << 40, 2, 50},
		{1000, 100, 1000, 5, 0, 0},
	} {
		if got := verElems(c.start, c.length, c.p, c.n, c.size); got != c.want {
			t.Errorf("verElems(%+v) = %d", c, got)
		}
	}
}

func FuzzVerElems(f *testing.F) {
	f.Add(uint64(1000), uint64(100), uint64(1050), uint64(99), uint64(2))
	f.Fuzz(func(t *testing.T, start, length, p, n, size uint64) {
		if start > 1<<48 || length > 1<<32 {
			return
		}
		s, l, pp := uintptr(start), uintptr(length), uintptr(p)
		got := verElems(s, l, pp, uintptr(n), uintptr(size))
		if got > 0 && (pp < s || pp+got*uintptr(size) > s+l) {
			t.Fatalf("%d elements of %d at %d leave [%d,%d)", got, size, pp, s, s+l)
		}
	})
}
