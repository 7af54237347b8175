package wiring

import (
	"github.com/farmwatch/farmwatch/agent/process"
	"github.com/farmwatch/farmwatch/agent/procevent"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/agent/sensor/activity"
	"github.com/farmwatch/farmwatch/agent/sensor/display"
	"github.com/farmwatch/farmwatch/agent/sensor/locale"
	"github.com/farmwatch/farmwatch/agent/sensor/netid"
	"github.com/farmwatch/farmwatch/agent/sensor/network"
	"github.com/farmwatch/farmwatch/agent/sensor/remoteaccess"
	"github.com/farmwatch/farmwatch/agent/sensor/usb"
)

// Sensors is THE list of sensors the agent runs. A new sensor is one
// package and one line here. The resident agent gives what only it has
// (process events); a helpdesk scan gives none.
func Sensors(cfg Config, res Resident) []sensor.Sensor {
	return []sensor.Sensor{
		remoteaccess.Sensor{Processes: res.Procs},
		usb.Sensor{},
		display.Sensor{},
		network.Sensor{Salt: cfg.FleetSalt},
		netid.New(netid.Options{Salt: cfg.FleetSalt, MDNS: cfg.MDNS}),
		locale.Sensor{Packages: res.Packages},
		procevent.Sensor{Watcher: res.Events}, // after remoteaccess: an ended process replaces its running self
		activity.Sensor{Counts: res.Activity},
	}
}

// Resident is what the resident agent keeps between scans for its
// sensors; the zero value is a one-off scan's.
type Resident struct {
	Procs    *process.Cache     // the processes read at the last scan
	Events   *procevent.Watcher // processes seen starting and ending between scans
	Activity *activity.Counts   // the hours of human input, kept in the state directory
	Packages *locale.Packages   // dpkg's input-method packages, read again when the file changes
}
