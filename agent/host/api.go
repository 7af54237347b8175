package host

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
)

var apiName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// API returns the result of an OS API call in out, which must be a pointer
// to the JSON-decodable type the call returns.
//
// On the live machine it calls live, records the result as api/NAME.json and
// decodes it into out: the live path and the replay path go through the same
// JSON, so a snapshot replays exactly what the sensor saw. On a snapshot it
// decodes api/NAME.json. The formats are documented in SNAPSHOT.md.
func (h *Host) API(ctx context.Context, name string, out any, live func(context.Context) (any, error)) error {
	if !apiName.MatchString(name) {
		return fmt.Errorf("api %q: bad name", name)
	}
	var raw []byte
	switch {
	case h.apis != nil:
		b, ok := h.apis[name]
		if !ok {
			return fmt.Errorf("api %s: %w", name, ErrNotRecorded)
		}
		raw = b
	case h.live && h.os == runtime.GOOS:
		v, err := live(ctx)
		if err != nil {
			return fmt.Errorf("api %s: %w", name, err)
		}
		b, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			return fmt.Errorf("api %s: encode: %w", name, err)
		}
		raw = append(b, '\n')
		h.rec.api(name, raw)
	default:
		return fmt.Errorf("api %s: %w", name, ErrNotLive)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("api %s: decode: %w", name, err)
	}
	return nil
}
