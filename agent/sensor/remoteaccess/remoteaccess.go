// Package remoteaccess is the sensor for remote-access tools: the running
// processes, and the installed or enabled services of every OS, with the
// OS's own remote-access settings (RDP, Screen Sharing, Remote Management).
//
// It reports neutral observations; the rules in rules/remoteaccess.yaml say
// which of them are remote-access tools. What it reads, per OS, is listed in
// package process (processes) and in service.go (services and settings).
package remoteaccess

import (
	"context"
	"errors"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/process"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor is the remote-access sensor.
type Sensor struct {
	// Processes, when set, keeps the processes read at one scan for the
	// next (the resident agent's); nil reads every process each time.
	Processes *process.Cache
}

// Name is "remoteaccess".
func (Sensor) Name() string { return "remoteaccess" }

// Sense lists processes and services. Either half failing leaves the other's
// observations in place, and the error says which half failed.
func (s Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	var obs []*fwv1.Observation
	ps, perr := s.Processes.List(ctx, h)
	for _, p := range ps {
		obs = append(obs, &fwv1.Observation{Key: process.Key(p), Kind: &fwv1.Observation_Process{Process: p}})
	}
	svcs, serr := listServices(ctx, h)
	for _, s := range svcs {
		obs = append(obs, &fwv1.Observation{Key: ServiceKey(s), Kind: &fwv1.Observation_Service{Service: s}})
	}
	return obs, errors.Join(perr, serr)
}

// ServiceKey is the stable key of a service: its manager and name.
func ServiceKey(s *fwv1.Service) string {
	return "service/" + s.GetManager() + "/" + s.GetName()
}
