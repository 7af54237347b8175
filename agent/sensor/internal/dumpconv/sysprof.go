package dumpconv

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"howett.net/plist"
)

// SystemProfilerJSON converts a `system_profiler -xml TYPE...` report (an
// array of one dictionary per data type, with _dataType and _items) into
// what `system_profiler -json TYPE...` prints: one object whose keys are the
// data types and whose values are their _items. Dates become RFC 3339
// strings and data becomes "0x" and its hex, as -json writes the EDID
// (_spdisplays_edid). The keys system_profiler adds for its own use
// (_SPCommandLineArguments, _properties, _timeStamp ...) are left out.
func SystemProfilerJSON(xml []byte) ([]byte, error) {
	var reports []map[string]any
	if _, err := plist.Unmarshal(xml, &reports); err != nil {
		return nil, fmt.Errorf("system_profiler xml: %w", err)
	}
	out := map[string]any{}
	for _, r := range reports {
		dt, _ := r["_dataType"].(string)
		if dt == "" {
			return nil, errors.New("system_profiler xml: a report without _dataType")
		}
		items, _ := r["_items"].([]any)
		if items == nil {
			items = []any{}
		}
		out[dt] = jsonValue(items, 0)
	}
	return json.MarshalIndent(out, "", "  ")
}

func jsonValue(v any, depth int) any {
	if depth > maxDepth {
		return nil
	}
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = jsonValue(x, depth+1)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = jsonValue(x, depth+1)
		}
		return a
	case []byte:
		return "0x" + hex.EncodeToString(t)
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	}
	return v
}
