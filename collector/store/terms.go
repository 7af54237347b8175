package store

import (
	"context"
	"fmt"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// The indexed fields of observations: a backend that implements
// ObservationFinder answers a lookup of one of them from an index, not by
// reading every observation. A term is "field:value".
//
//	process.name       the process image name, lower case ("anydesk.exe")
//	process.exe        the executable's path, as reported
//	usb.id             "vvvv:pppp", vendor and product id in lower-case hex
//	usb.serial         the USB serial string
//	edid.manufacturer  the PNP id ("LNX"), upper case
//	edid.product       the product code, "pppp" in lower-case hex
//	edid.serial        the serial number (decimal) and the serial descriptor
//	netid.mac          a neighbour's salted MAC hash (the gateway's)
//	netid.ssid         a Wi-Fi network's salted SSID hash
//	netid.bssid        a Wi-Fi network's salted BSSID hash
const (
	FieldProcessName      = "process.name"
	FieldProcessExe       = "process.exe"
	FieldUSBID            = "usb.id"
	FieldUSBSerial        = "usb.serial"
	FieldEDIDManufacturer = "edid.manufacturer"
	FieldEDIDProduct      = "edid.product"
	FieldEDIDSerial       = "edid.serial"
	FieldNetMAC           = "netid.mac"
	FieldNetSSID          = "netid.ssid"
	FieldNetBSSID         = "netid.bssid"
)

// IndexedFields lists the indexed fields.
var IndexedFields = []string{FieldProcessName, FieldProcessExe, FieldUSBID, FieldUSBSerial,
	FieldEDIDManufacturer, FieldEDIDProduct, FieldEDIDSerial, FieldNetMAC, FieldNetSSID, FieldNetBSSID}

// Term is the term of field and value as it is indexed: values are
// normalised as Terms normalises them.
func Term(field, value string) (string, error) {
	switch field {
	case FieldProcessName:
		value = strings.ToLower(value)
	case FieldUSBID, FieldEDIDProduct:
		value = strings.ToLower(value)
	case FieldEDIDManufacturer:
		value = strings.ToUpper(value)
	case FieldProcessExe, FieldUSBSerial, FieldEDIDSerial, FieldNetMAC, FieldNetSSID, FieldNetBSSID:
	default:
		return "", fmt.Errorf("%q is not an indexed field (indexed: %s)", field, strings.Join(IndexedFields, ", "))
	}
	return field + ":" + value, nil
}

// Terms are the indexed terms of an observation; none for kinds without
// indexed fields, and none for empty values.
func Terms(o *fwv1.Observation) []string {
	var ts []string
	add := func(field, v string) {
		if v != "" {
			t, _ := Term(field, v)
			ts = append(ts, t)
		}
	}
	switch k := o.GetKind().(type) {
	case *fwv1.Observation_Process:
		add(FieldProcessName, k.Process.GetName())
		add(FieldProcessExe, k.Process.GetExe())
	case *fwv1.Observation_UsbDevice:
		u := k.UsbDevice
		add(FieldUSBID, fmt.Sprintf("%04x:%04x", u.GetVendorId(), u.GetProductId()))
		add(FieldUSBSerial, u.GetSerial())
	case *fwv1.Observation_Display:
		if e := k.Display.GetEdid(); e != nil {
			add(FieldEDIDManufacturer, e.GetManufacturer())
			if e.GetProductCode() != 0 {
				add(FieldEDIDProduct, fmt.Sprintf("%04x", e.GetProductCode()))
			}
			if e.GetSerialNumber() != 0 {
				add(FieldEDIDSerial, fmt.Sprint(e.GetSerialNumber()))
			}
			add(FieldEDIDSerial, e.GetMonitorSerial())
		}
	case *fwv1.Observation_Neighbor:
		add(FieldNetMAC, k.Neighbor.GetMacHash())
	case *fwv1.Observation_WifiNetwork:
		add(FieldNetSSID, k.WifiNetwork.GetSsidHash())
		add(FieldNetBSSID, k.WifiNetwork.GetBssidHash())
	}
	return ts
}

// ObservationMatch is one observation found by a lookup.
type ObservationMatch struct {
	HostID      string
	Hostname    string
	Info        *fwv1.HostInfo // the host's, as its agent last reported it
	Observation *fwv1.Observation
}

// ObservationFinder is a store that answers lookups of indexed fields
// (the PostgreSQL store). Fleet queries use it where the store has it.
type ObservationFinder interface {
	// FindObservations returns the current observations whose field
	// (an IndexedFields entry) equals value, at most limit of them
	// (0: 10000), ordered by host name, host id and key.
	FindObservations(ctx context.Context, field, value string, limit int) ([]ObservationMatch, error)
	// EachOfKind calls fn with every current observation of a kind, of
	// every host: what a filter on another field scans.
	EachOfKind(ctx context.Context, kind string, fn func(hostID string, o *fwv1.Observation) error) error
	// CountHosts is the number of hosts.
	CountHosts(ctx context.Context) (int, error)
}
