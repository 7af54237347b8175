package host

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestShared: one load per key and Host, however many ask at once; its
// error is shared too; another key or another Host loads again.
func TestShared(t *testing.T) {
	a, err := FromRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := FromRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var loads atomic.Int32
	load := func() (any, error) { return int(loads.Add(1)), nil }
	var wg sync.WaitGroup
	got := make([]any, 16)
	for i := range got {
		wg.Go(func() { got[i], _ = a.Shared("x", load) })
	}
	wg.Wait()
	for _, v := range got {
		if v != 1 {
			t.Fatalf("values %v: want 1 from one load", got)
		}
	}
	if v, _ := a.Shared("y", load); v != 2 {
		t.Errorf("another key: %v, want a second load", v)
	}
	if v, _ := b.Shared("x", load); v != 3 {
		t.Errorf("another host: %v, want a third load", v)
	}
	boom := errors.New("boom")
	for range 2 {
		if _, err := a.Shared("err", func() (any, error) { loads.Add(1); return nil, boom }); err != boom {
			t.Errorf("error %v, want %v", err, boom)
		}
	}
	if n := loads.Load(); n != 4 {
		t.Errorf("%d loads, want 4", n)
	}
	func() {
		defer func() { recover() }()
		a.Shared("panic", func() (any, error) { panic("load") })
	}()
	if v, err := a.Shared("panic", load); v != nil || err != nil {
		t.Errorf("after a panicking load: %v, %v; want nil, nil", v, err)
	}
}
