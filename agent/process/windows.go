package process

import (
	"context"
	"errors"
	"fmt"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// ExeInfo is the version resource of a Windows executable, as recorded in
// api/exeinfo.json (an object keyed by executable path).
type ExeInfo struct {
	OriginalFilename string `json:"original_filename,omitempty"`
	ProductName      string `json:"product_name,omitempty"`
	CompanyName      string `json:"company_name,omitempty"`
	FileDescription  string `json:"file_description,omitempty"`
}

// readWindows reads api/processes.json and the version resources of the
// executables, api/exeinfo.json. When the version resources cannot be
// read the processes are returned with the error.
func readWindows(ctx context.Context, h *host.Host) ([]*fwv1.Process, error) {
	ps, err := listAPI(ctx, h)
	if err != nil {
		return nil, err
	}
	exes := map[string]bool{}
	for _, p := range ps {
		if p.Exe != "" {
			exes[p.Exe] = true
		}
	}
	var info map[string]ExeInfo
	err = h.API(ctx, "exeinfo", &info, func(ctx context.Context) (any, error) { return liveExeInfo(ctx, exes) })
	if err != nil {
		if errors.Is(err, host.ErrNotRecorded) {
			return ps, nil // an older snapshot without metadata: names and paths still work
		}
		return ps, fmt.Errorf("executable metadata: %w", err)
	}
	for _, p := range ps {
		if e, ok := info[p.Exe]; ok {
			p.OriginalFilename, p.Product, p.Company, p.Description = e.OriginalFilename, e.ProductName, e.CompanyName, e.FileDescription
		}
	}
	return ps, nil
}
