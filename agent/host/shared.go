package host

import "sync"

// sharedValue is one reading of Shared.
type sharedValue struct {
	once sync.Once
	val  any
	err  error
}

// Shared returns what load returns for key, calling load once per Host:
// sensors that read the same thing in one scan (network and netid both
// read the routes) share one reading, and the ones that ask while it is
// under way wait for it. A Host is opened for one scan (the resident agent
// and the helpdesk scan open one each time), so nothing is older than the
// scan; a Host kept longer must not read through Shared.
//
// The value is the same for every caller: whoever changes it must copy it
// first. A load that panics leaves a nil value with a nil error.
func (h *Host) Shared(key string, load func() (any, error)) (any, error) {
	h.sharedMu.Lock()
	if h.shared == nil {
		h.shared = map[string]*sharedValue{}
	}
	v := h.shared[key]
	if v == nil {
		v = &sharedValue{}
		h.shared[key] = v
	}
	h.sharedMu.Unlock()
	v.once.Do(func() { v.val, v.err = load() })
	return v.val, v.err
}
