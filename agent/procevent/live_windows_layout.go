//go:build windows && (amd64 || arm64)

package procevent

import "unsafe"

// The ETW structures have the sizes the Windows SDK gives them on 64-bit
// Windows; a mismatch fails the build (go vet GOOS=windows checks it).
var (
	_ [unsafe.Sizeof(eventRecord{}) - 112]byte
	_ [112 - unsafe.Sizeof(eventRecord{})]byte
	_ [unsafe.Sizeof(eventTraceProperties{}) - 120]byte
	_ [120 - unsafe.Sizeof(eventTraceProperties{})]byte
	_ [unsafe.Sizeof(eventTraceLogfile{}) - 448]byte
	_ [448 - unsafe.Sizeof(eventTraceLogfile{})]byte
	_ [unsafe.Offsetof(eventTraceLogfile{}.EventRecordCallback) - 424]byte
	_ [424 - unsafe.Offsetof(eventTraceLogfile{}.EventRecordCallback)]byte
	_ [unsafe.Offsetof(eventRecord{}.UserData) - 96]byte
	_ [96 - unsafe.Offsetof(eventRecord{}.UserData)]byte
)
