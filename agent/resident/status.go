package resident

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/farmwatch/farmwatch/agent/statefile"
)

// StatusFile is the small file in the state directory where a running
// agent says how it is doing, for `farmwatch-agent status`, which runs as
// another process. The agent rewrites it after each scan (Config.Scanned).
const StatusFile = "status.json"

// Status is the content of StatusFile.
type Status struct {
	Version      string    `json:"version"`
	PID          int       `json:"pid"`
	Collector    string    `json:"collector"`
	LastScan     time.Time `json:"last_scan"`
	Backlog      uint64    `json:"backlog"`       // messages not acknowledged by the collector
	BacklogBytes int64     `json:"backlog_bytes"` // the spool's size on disk
	Dropped      uint64    `json:"dropped"`       // messages the spool ever had to drop
}

// WriteStatus replaces the status file of a state directory.
func WriteStatus(stateDir string, s Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return statefile.Write(filepath.Join(stateDir, StatusFile), append(b, '\n'))
}

// ReadStatus reads the status file of a state directory; ok is false when
// there is none yet (no scan since the agent was installed).
func ReadStatus(stateDir string) (s Status, ok bool, err error) {
	p := filepath.Join(stateDir, StatusFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("status %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, fmt.Errorf("status %s: %w", p, err)
	}
	return s, true, nil
}

// scanned calls the Scanned hook after a scan was queued.
func (a *Agent) scanned(at time.Time) {
	if a.c.Scanned != nil {
		a.c.Scanned(at)
	}
}
