package sensor

import (
	"context"
	"errors"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
)

func replayed(t *testing.T, goos string) *host.Host {
	t.Helper()
	s, err := host.ParseSnapshot([]byte("-- snapshot.json --\n{\"os\":\"" + goos + "\",\"hostname\":\"h\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestByOS(t *testing.T) {
	say := func(s string) func(context.Context, *host.Host) (string, error) {
		return func(context.Context, *host.Host) (string, error) { return s, nil }
	}
	fails := func(context.Context, *host.Host) (string, error) { return "partial", errors.New("half read") }
	all := ByOS[string]{Linux: say("linux"), Darwin: say("darwin"), Windows: say("windows")}
	tests := []struct {
		name    string
		by      ByOS[string]
		os      string
		want    string
		wantErr string
	}{
		{"linux", all, "linux", "linux", ""},
		{"darwin", all, "darwin", "darwin", ""},
		{"windows", all, "windows", "windows", ""},
		{"no reader", ByOS[string]{Linux: say("linux")}, "windows", "", `no reader for os "windows": unsupported operation`},
		{"none at all", ByOS[string]{}, "darwin", "", `no reader for os "darwin": unsupported operation`},
		{"reader's error kept with its result", ByOS[string]{Linux: fails}, "linux", "partial", "half read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.by.Read(context.Background(), replayed(t, tt.os))
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && tt.want == "" && !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("error %v does not wrap errors.ErrUnsupported", err)
			}
		})
	}
}
