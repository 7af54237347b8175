//go:build !windows

package main

// installRecovery is Windows' (service_windows.go): the systemd unit and
// launchd plist restart the agent themselves.
func installRecovery() error { return nil }
