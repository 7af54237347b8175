// Package proctest makes a machine run at least n processes for a
// benchmark: the cost goals of the agent are for a host with 1,000.
package proctest

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Ensure starts sleeping processes (/bin/sleep) until the machine runs at
// least n, stops them when tb's test ends, and returns how many processes
// the machine runs. It skips where there is no /proc (Linux only).
func Ensure(tb testing.TB, n int) int {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("counts processes in /proc: Linux only")
	}
	var cmds []*exec.Cmd
	tb.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	for have := Count(tb); have < n; have++ {
		c := exec.Command("/bin/sleep", "3600")
		if err := c.Start(); err != nil {
			tb.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	time.Sleep(100 * time.Millisecond)
	return Count(tb)
}

// Count is how many processes the machine runs: the numeric entries of
// /proc.
func Count(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	c := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			c++
		}
	}
	return c
}
