package macpkg

import (
	"fmt"
	"path"
	"regexp"

	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/google/uuid"
	"howett.net/plist"
)

// Profile is what the configuration profile for MDMs carries:
//
//   - a managed background item (com.apple.servicemanagement, macOS 13
//     and later) for the farmwatch-agent launchd label, and for the team's
//     identifier when TeamID is set, so that users cannot switch the
//     daemon off in Login Items;
//   - with TeamID, a privacy preferences policy
//     (com.apple.TCC.configuration-profile-policy) giving full disk access
//     to farmwatch-agentd, which the LaunchDaemon runs and which reads
//     under /Users what the sensors need (keyboard input sources, per-user
//     launch agents) whatever TCC protects on that macOS version, and to
//     farmwatch-agent, whose helpdesk scans read the same. A policy needs a
//     code requirement, which needs each executable signed with a Developer
//     ID under its own name as identifier (codesign's default for a bare
//     executable; the Go linker signs arm64 binaries ad hoc, amd64 ones not
//     at all), so without TeamID it is left out;
//   - with Collector, CAPEM and EnrollSecret, the com.farmwatch.agent
//     payload that the package's postinstall configures the agent from
//     (/Library/Managed Preferences/com.farmwatch.agent.plist): push the
//     profile first, then the package, and the agent starts.
type Profile struct {
	TeamID                         string
	Collector, CAPEM, EnrollSecret string
	Organization                   string
}

var teamID = regexp.MustCompile(`^[A-Z0-9]{10}$`)

func payloadUUID(id string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("farmwatch:"+id)).String()
}

// MobileConfig is the unsigned .mobileconfig (XML property list).
func MobileConfig(p Profile) ([]byte, error) {
	if p.TeamID != "" && !teamID.MatchString(p.TeamID) {
		return nil, fmt.Errorf("mobileconfig: team ID %q: want 10 letters and digits", p.TeamID)
	}
	if p.Organization == "" {
		p.Organization = "farmwatch"
	}
	payload := func(typ, id, name string, extra map[string]any) map[string]any {
		m := map[string]any{"PayloadType": typ, "PayloadIdentifier": id, "PayloadUUID": payloadUUID(id),
			"PayloadVersion": 1, "PayloadDisplayName": name}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	rules := []any{map[string]any{"RuleType": "Label", "RuleValue": servicedef.Name, "Comment": "the farmwatch agent's LaunchDaemon"}}
	if p.TeamID != "" {
		rules = append(rules, map[string]any{"RuleType": "TeamIdentifier", "RuleValue": p.TeamID, "Comment": "the farmwatch agent's signer"})
	}
	content := []any{payload("com.apple.servicemanagement", Identifier+".background", "farmwatch agent: managed background item",
		map[string]any{"Rules": rules})}
	if p.TeamID != "" {
		// The identifier is the file's name, as codesign gives a bare
		// executable by default.
		allow := func(exe, comment string) map[string]any {
			req := fmt.Sprintf(`identifier "%s" and anchor apple generic and certificate 1[field.1.2.840.113635.100.6.2.6] /* exists */ `+
				`and certificate leaf[field.1.2.840.113635.100.6.1.13] /* exists */ and certificate leaf[subject.OU] = "%s"`, path.Base(exe), p.TeamID)
			return map[string]any{"Identifier": exe, "IdentifierType": "path", "CodeRequirement": req,
				"Authorization": "Allow", "StaticCode": false, "Comment": comment}
		}
		content = append(content, payload("com.apple.TCC.configuration-profile-policy", Identifier+".privacy", "farmwatch agent: privacy preferences",
			map[string]any{"Services": map[string]any{"SystemPolicyAllFiles": []any{
				allow(servicedef.Darwin.Daemon, "the LaunchDaemon: reads users' keyboard input sources and launch agents under /Users"),
				allow(servicedef.Darwin.Binary, "helpdesk scans (farmwatch-agent scan): read the same as the daemon"),
			}}}))
	}
	if p.Collector != "" || p.CAPEM != "" || p.EnrollSecret != "" {
		if p.Collector == "" || p.CAPEM == "" || p.EnrollSecret == "" {
			return nil, fmt.Errorf("mobileconfig: give the collector, the CA and the enroll secret together")
		}
		content = append(content, payload(Identifier, Identifier+".settings", "farmwatch agent: settings",
			map[string]any{"Collector": p.Collector, "CAPEM": p.CAPEM, "EnrollSecret": p.EnrollSecret}))
	}
	profile := map[string]any{
		"PayloadType": "Configuration", "PayloadIdentifier": Identifier + ".profile", "PayloadUUID": payloadUUID(Identifier + ".profile"),
		"PayloadVersion": 1, "PayloadDisplayName": "farmwatch agent", "PayloadOrganization": p.Organization,
		"PayloadDescription": "Keeps the farmwatch agent running and lets it read what its sensors need.",
		"PayloadScope":       "System", "PayloadRemovalDisallowed": true, "PayloadContent": content,
	}
	return plist.MarshalIndent(profile, plist.XMLFormat, "\t")
}
