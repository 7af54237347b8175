//go:build !linux && !darwin && !windows

package procevent

// liveSources: no event source on this OS.
func liveSources() []source { return nil }
