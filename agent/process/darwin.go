package process

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

// readDarwin reads api/processes.json and, for each process whose
// executable is inside an .app bundle, the bundle's Info.plist.
func readDarwin(ctx context.Context, h *host.Host) ([]*fwv1.Process, error) {
	ps, err := listAPI(ctx, h)
	if err != nil {
		return nil, err
	}
	bundles := map[string]*bundleInfo{}
	for _, p := range ps {
		app := appBundle(p.Exe)
		if app == "" {
			continue
		}
		b, ok := bundles[app]
		if !ok {
			b = readBundle(h, app)
			bundles[app] = b
		}
		if b != nil {
			p.BundleId, p.Product = b.ID, b.Name
		}
	}
	return ps, nil
}

// appBundle returns the innermost "*.app" directory that holds exe, or "".
func appBundle(exe string) string {
	if !strings.HasPrefix(exe, "/") {
		return ""
	}
	dir := path.Dir(exe)
	for dir != "/" && dir != "." {
		if strings.HasSuffix(strings.ToLower(dir), ".app") {
			return dir
		}
		dir = path.Dir(dir)
	}
	return ""
}

// bundleInfo is what an app bundle's Info.plist says of it.
type bundleInfo struct {
	ID   string
	Name string
}

// readBundle reads APP/Contents/Info.plist; nil when it cannot.
func readBundle(h *host.Host, app string) *bundleInfo {
	b, err := h.ReadFile(app + "/Contents/Info.plist")
	if err != nil {
		return nil
	}
	bi, err := ParseInfoPlist(b)
	if err != nil {
		return nil
	}
	return bi
}

// ParseInfoPlist reads the bundle identifier and name from an Info.plist in
// any plist encoding (XML, binary, OpenStep).
func ParseInfoPlist(b []byte) (*bundleInfo, error) {
	var v struct {
		ID          string `plist:"CFBundleIdentifier"`
		Name        string `plist:"CFBundleName"`
		DisplayName string `plist:"CFBundleDisplayName"`
	}
	if _, err := plist.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("info.plist: %w", err)
	}
	v.Name = cmp.Or(v.Name, v.DisplayName)
	if v.ID == "" && v.Name == "" {
		return nil, fmt.Errorf("info.plist: no CFBundleIdentifier or CFBundleName")
	}
	return &bundleInfo{ID: v.ID, Name: v.Name}, nil
}
