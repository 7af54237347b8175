//go:build windows

package usb

import "unsafe"

// Compile-time checks for the GOARCH being built (go vet with GOOS=windows
// GOARCH=arm64 compiles them too).
var (
	_ [unsafe.Sizeof(hidpCaps{}) - 64]struct{}
	_ [64 - unsafe.Sizeof(hidpCaps{})]struct{}
	_ [unsafe.Sizeof(hidpValueCaps{}) - 72]struct{}
	_ [72 - unsafe.Sizeof(hidpValueCaps{})]struct{}
	_ [unsafe.Offsetof(hidpValueCaps{}.UsageMin) - 56]struct{}
	_ [56 - unsafe.Offsetof(hidpValueCaps{}.UsageMin)]struct{}
	_ [unsafe.Sizeof(usbDescriptorRequest{}) - 12]struct{}
	_ [12 - unsafe.Sizeof(usbDescriptorRequest{})]struct{}
	_ [unsafe.Sizeof(usbDeviceDescriptor{}) - 18]struct{}
	_ [18 - unsafe.Sizeof(usbDeviceDescriptor{})]struct{}
)
