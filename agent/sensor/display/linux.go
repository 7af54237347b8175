package display

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// linuxModules are the kernel modules reported from /proc/modules: those
// that drive a virtual, dummy, USB or hypervisor display, or fake a camera.
// Every other module is left out; the rules decide what these mean.
var linuxModules = map[string]string{
	"vkms":         "Virtual Kernel Mode Setting",
	"evdi":         "Extensible Virtual Display Interface (DisplayLink)",
	"udl":          "DisplayLink USB 2.0 display",
	"gud":          "Generic USB Display",
	"virtio_gpu":   "virtio GPU (QEMU/KVM guest)",
	"qxl":          "QXL virtual GPU (QEMU/SPICE guest)",
	"vmwgfx":       "VMware SVGA virtual GPU",
	"bochs":        "Bochs/QEMU standard VGA",
	"bochs_drm":    "Bochs/QEMU standard VGA",
	"cirrus":       "Cirrus virtual VGA (QEMU)",
	"cirrus_qemu":  "Cirrus virtual VGA (QEMU)",
	"vboxvideo":    "VirtualBox virtual GPU",
	"vboxguest":    "VirtualBox guest additions",
	"hyperv_drm":   "Hyper-V synthetic video",
	"hyperv_fb":    "Hyper-V synthetic video",
	"xen_fbfront":  "Xen virtual framebuffer",
	"v4l2loopback": "virtual video device (fake camera)",
}

// builtinConnectors are the DRM connector types of a built-in panel.
var builtinConnectors = []string{"eDP", "LVDS", "DSI"}

// readLinux reads what the package doc lists for linux.
func readLinux(ctx context.Context, h *host.Host) (found, error) {
	var errs []error
	conns, err := h.Glob("/sys/class/drm/card*-*")
	if err != nil {
		errs = append(errs, fmt.Errorf("list drm connectors: %w", err))
	}
	cardDriver := map[string]string{}
	var (
		ds  []*fwv1.Display
		drv []*fwv1.Driver
	)
	for _, p := range conns {
		if ctx.Err() != nil {
			return found{ds, drv}, ctx.Err()
		}
		card, conn, ok := splitConnector(path.Base(p))
		if !ok || strings.HasPrefix(conn, "Writeback") {
			continue
		}
		name, seen := cardDriver[card]
		if !seen {
			link := "/sys/class/drm/" + card + "/device/driver"
			if t, err := h.Readlink(link); err == nil {
				name = path.Base(t)
				drv = append(drv, &fwv1.Driver{Name: name, Type: "drm_driver", Path: link, Loaded: true, Service: card})
			}
			cardDriver[card] = name
		}
		d := &fwv1.Display{
			Connector:  card + "-" + conn,
			Adapter:    card,
			Driver:     name,
			Path:       p,
			Connection: connectorType(conn),
			Builtin:    isBuiltin(conn),
			Virtual:    connectorType(conn) == "Virtual",
			Status:     "unknown",
		}
		if b, err := h.ReadFile(p + "/status"); err == nil {
			d.Status = parseStatus(b)
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("read %s/status: %w", p, err))
		}
		if b, err := h.ReadFile(p + "/enabled"); err == nil {
			d.Enabled = parseEnabled(b)
		}
		if b, err := h.ReadFile(p + "/edid"); err == nil {
			d.Edid = Edid(b)
		}
		ds = append(ds, d)
	}
	if b, err := h.ReadFile("/proc/modules"); err == nil {
		for _, m := range parseModules(b) {
			if cardHas(cardDriver, m.Name) {
				continue // reported as the card's drm_driver
			}
			drv = append(drv, &fwv1.Driver{Name: m.Name, Type: "kernel_module", Path: "/proc/modules", Loaded: true, Description: linuxModules[m.Name]})
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("read /proc/modules: %w", err))
	}
	drv = append(drv, xorgDrivers(h)...)
	drv = append(drv, xServers(h)...)
	return found{ds, drv}, errors.Join(errs...)
}

func cardHas(m map[string]string, name string) bool {
	for _, v := range m {
		if v == name {
			return true
		}
	}
	return false
}

// splitConnector splits a DRM connector directory name, "card0-HDMI-A-1",
// into its card ("card0") and connector ("HDMI-A-1").
func splitConnector(n string) (card, conn string, ok bool) {
	if !strings.HasPrefix(n, "card") {
		return "", "", false
	}
	i := strings.IndexByte(n, '-')
	if i <= len("card") || i == len(n)-1 {
		return "", "", false
	}
	if _, err := strconv.Atoi(n[len("card"):i]); err != nil {
		return "", "", false
	}
	return n[:i], n[i+1:], true
}

// connectorType is the connector name without its index: "HDMI-A-1" is
// "HDMI-A", "eDP-1" is "eDP", "Virtual-1" is "Virtual".
func connectorType(conn string) string {
	if i := strings.LastIndexByte(conn, '-'); i > 0 {
		if _, err := strconv.Atoi(conn[i+1:]); err == nil {
			return conn[:i]
		}
	}
	return conn
}

func isBuiltin(conn string) bool { return slices.Contains(builtinConnectors, connectorType(conn)) }

// parseStatus reads a connector's status file: connected, disconnected or
// unknown (anything else is unknown).
func parseStatus(b []byte) string {
	switch s := string(bytes.TrimSpace(b)); s {
	case "connected", "disconnected":
		return s
	}
	return "unknown"
}

// parseEnabled reads a connector's enabled file: "enabled" or "disabled".
func parseEnabled(b []byte) bool { return string(bytes.TrimSpace(b)) == "enabled" }

// module is one line of /proc/modules.
type module struct {
	Name  string
	State string // Live, Loading, Unloading
}

// parseModules returns the modules of /proc/modules ("name size refcount
// deps state address") that are in linuxModules, in file order.
func parseModules(b []byte) []module {
	var out []module
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		name := line[:i]
		if _, ok := linuxModules[string(name)]; !ok {
			continue
		}
		m := module{Name: string(name)}
		if f := strings.Fields(string(line)); len(f) >= 5 {
			m.State = f[4]
		}
		out = append(out, m)
	}
	return out
}

// xorgDrivers reads the Xorg configuration for the Driver of each Device
// section.
func xorgDrivers(h *host.Host) []*fwv1.Driver {
	files := []string{"/etc/X11/xorg.conf"}
	if ms, err := h.Glob("/etc/X11/xorg.conf.d/*.conf"); err == nil {
		files = append(files, ms...)
	}
	var out []*fwv1.Driver
	for _, f := range files {
		b, err := h.ReadFile(f)
		if err != nil {
			continue
		}
		for _, name := range parseXorgDevices(b) {
			out = append(out, &fwv1.Driver{Name: name, Type: "xorg_driver", Path: f})
		}
	}
	return out
}

// parseXorgDevices returns the Driver of each Section "Device" of an Xorg
// configuration file. Keywords are case-insensitive; comments start at #.
func parseXorgDevices(b []byte) []string {
	var (
		out    []string
		inDev  bool
		inSect bool
	)
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := xorgFields(line)
		if len(f) == 0 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "section":
			inSect = true
			inDev = len(f) > 1 && strings.EqualFold(f[1], "Device")
		case "endsection":
			inSect, inDev = false, false
		case "driver":
			if inSect && inDev && len(f) > 1 && f[1] != "" {
				out = append(out, f[1])
			}
		}
	}
	return out
}

// xorgFields splits an Xorg configuration line into words, a quoted string
// being one word without its quotes.
func xorgFields(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\r")
		if s == "" {
			return out
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return append(out, s[1:])
			}
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t\r")
		if end < 0 {
			return append(out, s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}

// xServers finds the running X servers by their lock files, /tmp/.X<n>-lock,
// which hold the server's pid, and names each by /proc/<pid>/comm.
func xServers(h *host.Host) []*fwv1.Driver {
	locks, err := h.Glob("/tmp/.X*-lock")
	if err != nil {
		return nil
	}
	var out []*fwv1.Driver
	for _, l := range locks {
		b, err := h.ReadFile(l)
		if err != nil {
			continue
		}
		pid, ok := parseXLock(b)
		if !ok {
			continue
		}
		comm, err := h.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err != nil {
			continue // a stale lock: no such process
		}
		name := strings.TrimSpace(string(comm))
		if name == "" {
			continue
		}
		out = append(out, &fwv1.Driver{Name: name, Type: "x_server", Path: l, Loaded: true,
			Description: "X display :" + strings.TrimSuffix(strings.TrimPrefix(path.Base(l), ".X"), "-lock")})
	}
	return out
}

// parseXLock reads the pid in an X lock file: ten characters, the pid
// right-aligned, then a newline.
func parseXLock(b []byte) (int, bool) {
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
