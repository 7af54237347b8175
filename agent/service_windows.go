package main

import (
	"fmt"

	"github.com/farmwatch/farmwatch/installer/servicedef"
	"golang.org/x/sys/windows/svc/mgr"
)

// installRecovery sets the installed service's recovery actions to
// servicedef's (restart, with growing delays; kardianos/service sets one),
// and the failure actions flag, so that they apply also when the service
// stops itself with an error, not only when its process dies. The MSI sets
// the same (installer/msi).
func installRecovery() error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("open %s: %w", serviceName, err)
	}
	defer s.Close()
	var actions []mgr.RecoveryAction
	for _, d := range servicedef.WindowsRestartDelays {
		actions = append(actions, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d})
	}
	if err := s.SetRecoveryActions(actions, uint32(servicedef.WindowsResetPeriod.Seconds())); err != nil {
		return err
	}
	return s.SetRecoveryActionsOnNonCrashFailures(true)
}
