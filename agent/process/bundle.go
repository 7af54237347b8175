package process

import (
	"fmt"

	"github.com/farmwatch/farmwatch/agent/host"
	"howett.net/plist"
)

type bundleInfo struct {
	ID   string
	Name string
}

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
	if v.Name == "" {
		v.Name = v.DisplayName
	}
	if v.ID == "" && v.Name == "" {
		return nil, fmt.Errorf("info.plist: no CFBundleIdentifier or CFBundleName")
	}
	return &bundleInfo{ID: v.ID, Name: v.Name}, nil
}
