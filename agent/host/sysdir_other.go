//go:build !windows

package host

// systemPath is the path itself: only Windows has a system directory to
// look up.
func systemPath(p string) string { return p }
