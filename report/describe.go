package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Describe says in words what an observation is, for the evidence lines.
func Describe(o *fwv1.Observation, key string) string {
	if o == nil {
		return key
	}
	switch k := o.Kind.(type) {
	case *fwv1.Observation_Process:
		p := k.Process
		var parts []string
		s := fmt.Sprintf("process %s (pid %d)", p.Name, p.Pid)
		if p.Exe != "" {
			s += " " + p.Exe
		}
		parts = append(parts, s)
		if p.Username != "" {
			parts = append(parts, "user "+p.Username)
		}
		switch {
		case p.StartTime != nil && p.EndTime != nil:
			parts = append(parts, "ran "+p.StartTime.AsTime().UTC().Format(time.DateTime)+" to "+p.EndTime.AsTime().UTC().Format(time.TimeOnly)+" UTC")
		case p.StartTime != nil:
			parts = append(parts, "since "+p.StartTime.AsTime().UTC().Format(time.DateTime)+" UTC")
		}
		if p.ParentName != "" {
			parts = append(parts, "parent "+p.ParentName+" ("+strconv.Itoa(int(p.Ppid))+")")
		}
		if p.OriginalFilename != "" && !strings.EqualFold(p.OriginalFilename, p.Name) {
			parts = append(parts, "original file name "+p.OriginalFilename)
		}
		if p.BundleId != "" {
			parts = append(parts, "bundle "+p.BundleId)
		}
		return strings.Join(parts, ", ")
	case *fwv1.Observation_Service:
		s := k.Service
		parts := []string{fmt.Sprintf("%s %s", serviceWord(s.Manager), s.Name)}
		var st []string
		if s.State != "" {
			st = append(st, s.State)
		}
		if s.Enabled {
			st = append(st, "enabled")
		}
		if s.StartMode != "" && s.StartMode != "enabled" {
			st = append(st, "start "+s.StartMode)
		}
		if len(st) > 0 {
			parts[0] += " (" + strings.Join(st, ", ") + ")"
		}
		if s.Exe != "" {
			parts = append(parts, s.Exe)
		}
		if s.Username != "" {
			parts = append(parts, "as "+s.Username)
		}
		if s.Path != "" {
			parts = append(parts, "from "+s.Path)
		}
		return strings.Join(parts, ", ")
	case *fwv1.Observation_UsbDevice:
		u := k.UsbDevice
		s := fmt.Sprintf("USB device %04x:%04x", u.VendorId, u.ProductId)
		if n := strings.TrimSpace(u.Manufacturer + " " + u.Product); n != "" {
			s += " " + n
		}
		if u.Serial != "" {
			s += ", serial " + u.Serial
		}
		if u.BusPath != "" {
			s += ", at " + u.BusPath
		}
		return s
	case *fwv1.Observation_Display:
		d := k.Display
		s := "display " + d.Connector
		if d.Status != "" {
			s += " (" + d.Status + ")"
		}
		if e := d.Edid; e != nil {
			s += fmt.Sprintf(", EDID %s %04x %q", e.Manufacturer, e.ProductCode, e.MonitorName)
			if e.SerialNumber != 0 {
				s += fmt.Sprintf(" serial %08x", e.SerialNumber)
			}
		}
		if d.Driver != "" {
			s += ", driver " + d.Driver
		}
		return s
	case *fwv1.Observation_Driver:
		d := k.Driver
		return strings.ReplaceAll(d.Type, "_", " ") + " " + d.Name
	case *fwv1.Observation_NetInterface:
		n := k.NetInterface
		return fmt.Sprintf("interface %s (%s)", n.Name, n.Type)
	case *fwv1.Observation_Route:
		r := k.Route
		s := "route " + r.Destination + " via " + r.Interface
		if r.Gateway != "" {
			s += " gateway " + r.Gateway
		}
		return s
	case *fwv1.Observation_ProxySetting:
		p := k.ProxySetting
		return fmt.Sprintf("proxy %s from %s", firstNonEmpty(p.Url, p.Host), p.Source)
	case *fwv1.Observation_Neighbor:
		n := k.Neighbor
		return fmt.Sprintf("neighbour %s %s on %s", n.Ip, n.Mac, n.Interface)
	case *fwv1.Observation_KeyboardLayout:
		l := k.KeyboardLayout
		s := "keyboard " + firstNonEmpty(l.InputMethod, l.Layout)
		if l.Username != "" {
			s += " of " + l.Username
		}
		if l.Source != "" {
			s += " (" + l.Source + ")"
		}
		return s
	case *fwv1.Observation_Locale:
		l := k.Locale
		who := firstNonEmpty(l.Username, "system")
		return fmt.Sprintf("locale of %s: %s, time zone %s", who, l.Lang, l.Timezone)
	case *fwv1.Observation_Session:
		ss := k.Session
		s := firstNonEmpty(ss.Type, "session") + " session " + ss.Id
		if ss.Username != "" {
			s += " of " + ss.Username
		}
		if ss.RemoteAddr != "" {
			s += " from " + ss.RemoteAddr
		}
		if ss.State != "" {
			s += " (" + ss.State + ")"
		}
		return s
	case *fwv1.Observation_WifiNetwork:
		w := k.WifiNetwork
		s := "Wi-Fi on " + firstNonEmpty(w.Interface, "an interface")
		if n := firstNonEmpty(w.Ssid, w.SsidHash); n != "" {
			s += ", network " + n
		}
		if b := firstNonEmpty(w.Bssid, w.BssidHash); b != "" {
			s += ", access point " + b
		}
		if w.Status != "" {
			s += " (identifiers " + w.Status + ")"
		}
		return s
	case *fwv1.Observation_DnsResolver:
		d := k.DnsResolver
		s := "DNS server " + d.Server
		if d.Interface != "" {
			s += " on " + d.Interface
		}
		if d.Source != "" {
			s += " from " + d.Source
		}
		return s
	case *fwv1.Observation_Activity:
		a := k.Activity
		total := uint32(0)
		for _, n := range a.HoursUtc {
			total += n
		}
		return fmt.Sprintf("human input at %d of %d samples (from %s)", total, a.Samples, firstNonEmpty(a.Source, "the console"))
	}
	if k, _, ok := kinds.Of(o); ok {
		return k.Name + " " + key
	}
	return key
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func serviceWord(m string) string {
	switch m {
	case "systemd":
		return "systemd unit"
	case "launchd":
		return "launchd job"
	case "scm":
		return "Windows service"
	case "setting":
		return "setting"
	}
	return "service"
}
