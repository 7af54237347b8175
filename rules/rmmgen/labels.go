package main

import "strings"

// aliases maps a tool name as LOLRMM (field Name) or the indicator catalogue
// (field tool) spells it to the one label of its vendor or product family.
// "Two or more vendors on one host" counts distinct labels, so every name of
// one family must collapse here. A LOLRMM name that is not listed is its own
// label; an indicator-catalogue tool that is not listed is an error.
var aliases = map[string]string{
	// ConnectWise ScreenConnect (formerly ConnectWise Control); 247ithelp's
	// "Remote Workforce Client.exe" is also listed in screenconnect.yaml.
	"247ithelp.com (ConnectWise)": "ConnectWise ScreenConnect",
	"ConnectWise":                 "ConnectWise ScreenConnect",
	"ConnectWise Control":         "ConnectWise ScreenConnect",
	"ScreenConnect":               "ConnectWise ScreenConnect",
	// ConnectWise Automate (formerly LabTech).
	"Connectwise Automate (LabTech)":         "ConnectWise Automate",
	"LabTeach (Connectwise Automate)":        "ConnectWise Automate",
	"LabTech RMM (Now ConnectWise Automate)": "ConnectWise Automate",
	// BeyondTrust Remote Support (formerly Bomgar).
	"BeyondTrust": "BeyondTrust (Bomgar)",
	// N-able: BeAnywhere became SolarWinds/N-able Take Control; its BASup*
	// binaries are listed under both.
	"BeAnyWhere":                       "N-able",
	"N-Able Advanced Monitoring Agent": "N-able",
	"N-ABLE Remote Access Software":    "N-able",
	"CentraStage (Now Datto)":          "Datto RMM",
	// GoTo is LogMeIn, Inc. renamed (2022); GoToAssist is GoTo Resolve.
	"GoTo Opener":                      "GoTo (LogMeIn)",
	"GoToAssist":                       "GoTo (LogMeIn)",
	"GoToAssist (GoTo Resolve)":        "GoTo (LogMeIn)",
	"GoToAssist Agent Desktop Console": "GoTo (LogMeIn)",
	"GoToMyPC":                         "GoTo (LogMeIn)",
	"LogMeIn":                          "GoTo (LogMeIn)",
	"LogMeIn rescue":                   "GoTo (LogMeIn)",
	"Netviewer (GoToMeet)":             "Netviewer",
	"ISL Light":                        "ISL Online",
	"Impero Connect":                   "Impero Connect (Netop)",
	"Netop":                            "Impero Connect (Netop)",
	"Netop Remote Control (aka Impero Connect)": "Impero Connect (Netop)",
	"Netop Remote Control (Impero Connect)":     "Impero Connect (Netop)",
	"Level.io":                                  "Level",
	"Lite Manager":                              "LiteManager",
	"Manage Engine (Desktop Central)":           "ManageEngine",
	"ManageEngine RMM Central":                  "ManageEngine",
	"ManageEngine ServiceDesk Plus":             "ManageEngine",
	"Free Tools Launcher":                       "ManageEngine", // ManageEngine Free Tools
	"MioNet (Also known as WD Anywhere Access)": "MioNet (WD Anywhere Access)",
	"NinjaOne (formerly NinjaRMM)":              "NinjaOne",
	"NinjaRMM":                                  "NinjaOne",
	"eHorus":                                    "Pandora RC (eHorus)",
	"Pocket Controller (Soti Xsight)":           "SOTI Pocket Controller",
	"Pocket Controller":                         "SOTI Pocket Controller",
	"Pocket Cloud (Wyse)":                       "Wyse PocketCloud",
	"PSEXEC":                                    "PsExec",
	"PSEXEC (Clone)":                            "PsExec clone (PAExec, RemCom, CSExec, xCmd)",
	"Quick Assist":                              "Microsoft Quick Assist",
	"RAdmin":                                    "Radmin",
	"Remote Desktop Manager (Devolutions)":      "Devolutions Remote Desktop Manager",
	// Remote Manipulator System is Remote Utilities' name in Russia; its
	// folder "Remote Manipulator System - Server" is in remoteutilities.yaml.
	"Remote Manipulator System": "Remote Utilities",
	"RemoteUtilities":           "Remote Utilities",
	// access_remote_pc.yaml describes RemotePC (its paths are RemotePC's).
	"Access Remote PC": "RemotePC",
	"Royal Server":     "Royal Apps",
	"Royal TS":         "Royal Apps",
	"Splashtop Remote": "Splashtop",
	"Splashtop (Beta)": "Splashtop",
	// Kabuto is Syncro's former name (Kabuto.App.Runner.exe is in both).
	"Kabuto":        "Syncro",
	"Tanium Deploy": "Tanium",
	// VNC servers and viewers: the image names are shared across
	// implementations (winvnc.exe is UltraVNC's, TightVNC 1.x's and RealVNC
	// 4's), so they cannot tell the vendor apart and count as one.
	"TigerVNC":                 "VNC",
	"TightVNC":                 "VNC",
	"UltraVNC":                 "VNC",
	"Ultra VNC":                "VNC",
	"VNC Connect":              "VNC",
	"RealVNC":                  "VNC",
	"SmartCode Web VNC":        "VNC",
	"Mocha VNC Lite":           "VNC",
	"Chicken (of the VNC)":     "VNC",
	"JollysFastVNC":            "VNC",
	"XRDP":                     "xrdp",
	"Comodo RMM":               "Itarian (Comodo)",
	"Itarian":                  "Itarian (Comodo)",
	"Electric AI (Kaseya)":     "Kaseya",
	"Kaseya (VSA)":             "Kaseya",
	"Faronics Core":            "Faronics",
	"Faronics Deep Freeze":     "Faronics",
	"Faronics Deploy":          "Faronics",
	"Faronics Insight":         "Faronics",
	"Bitvise SSH Client":       "Bitvise",
	"Bitvise SSH Server":       "Bitvise",
	"Laplink Everywhere":       "Laplink",
	"Laplink Gold":             "Laplink",
	"Ericom AccessNow":         "Ericom",
	"Ericom Connect":           "Ericom",
	"Visual Studio Dev Tunnel": "Microsoft Dev Tunnels",
	"Dev Tunnels (aka Visual Studio Dev Tunnel)": "Microsoft Dev Tunnels",
	"Pcnow":                 "Webex PCNow",
	"WebEx (Remote Access)": "Webex PCNow",
	// RDPView lists only dwrcs.exe, DameWare's remote control service.
	"RDPView": "DameWare",
	"mstsc.exe (Microsoft Remote Desktop Connection)": "Microsoft Remote Desktop Connection",
	"rdpwrap":                               "RDP Wrapper",
	"CloudFlare Tunnel":                     "Cloudflare Tunnel",
	"DW Service":                            "DWService",
	"GetScreen":                             "Getscreen.me",
	"SunLogin":                              "Sunlogin",
	"NoteOn-desktop sharing":                "NateOn",
	"GatherPlace-desktop sharing":           "GatherPlace",
	"AliWangWang-remote-control":            "AliWangWang",
	"QQ IM-remote assistance":               "Tencent QQ",
	"Sophos-Remote Management System":       "Sophos Remote Management System",
	"NVDA (Non-Visual Desktop Access)":      "NVDA",
	"Ninite Pro (Ninite Agent)":             "Ninite Pro",
	"Quest KACE Agent (formerly Dell KACE)": "Quest KACE",
	"FixMe.it":                              "FixMe.it",
	"baramundi Management Suite":            "baramundi",
	"Net Monitor for Employees":             "Net Monitor for Employees",
	"Instant Housecall":                     "Instant Housecall",

	// Indicator-catalogue tool names (field tool).
	"AnyDesk":                          "AnyDesk",
	"TeamViewer":                       "TeamViewer",
	"RustDesk":                         "RustDesk",
	"Chrome Remote Desktop":            "Chrome Remote Desktop",
	"Splashtop":                        "Splashtop",
	"ConnectWise ScreenConnect":        "ConnectWise ScreenConnect",
	"GoTo Resolve / GoToMyPC":          "GoTo (LogMeIn)",
	"GoTo Resolve":                     "GoTo (LogMeIn)",
	"LogMeIn / GoTo":                   "GoTo (LogMeIn)",
	"Parsec":                           "Parsec",
	"Parsec (virtual display service)": "Parsec",
	"VNC servers (RealVNC/TightVNC/TigerVNC/UltraVNC)": "VNC",
	"UltraVNC / TightVNC":                              "VNC",
	"RealVNC / TightVNC":                               "VNC",
	"x11vnc / TightVNC":                                "VNC",
	"VNC":                                              "VNC",
	"GNOME Remote Desktop (RDP/VNC)":                   "GNOME Remote Desktop",
	"xrdp":                                             "xrdp",
	"NoMachine":                                        "NoMachine",
	"Zoho Assist":                                      "Zoho Assist",
	"BeyondTrust (Bomgar)":                             "BeyondTrust (Bomgar)",
	"Atera":                                            "Atera",
	"Kaseya VSA":                                       "Kaseya",
	"NinjaOne":                                         "NinjaOne",
	"Ammyy Admin":                                      "Ammyy Admin",
	"Supremo":                                          "Supremo",
	"DWService":                                        "DWService",
	"MeshCentral":                                      "MeshCentral",
	"HopToDesk":                                        "HopToDesk",
	"ToDesk":                                           "ToDesk",
	"Sunlogin (Oray)":                                  "Sunlogin",
	"AnyViewer (AOMEI)":                                "AnyViewer",
	"UltraViewer":                                      "UltraViewer",
	"Getscreen.me":                                     "Getscreen.me",
	"Remote Utilities":                                 "Remote Utilities",
	"NetSupport Manager":                               "NetSupport Manager",
	"Radmin":                                           "Radmin",
	"Jump Desktop":                                     "Jump Desktop",
	"RemotePC":                                         "RemotePC",
	"AeroAdmin":                                        "AeroAdmin",
	"Tactical RMM":                                     "Tactical RMM",
	"Action1":                                          "Action1",
	"Syncro":                                           "Syncro",
	"SimpleHelp":                                       "SimpleHelp",
	"Microsoft Quick Assist":                           "Microsoft Quick Assist",
	"RDP Wrapper":                                      "RDP Wrapper",
	"Apple Remote Desktop / Remote Management": "Apple Remote Desktop",
	"ngrok":             "ngrok",
	"Cloudflare Tunnel": "Cloudflare Tunnel",
}

// labelFor returns the label of a LOLRMM tool name.
func labelFor(name string) string {
	name = strings.TrimSpace(name)
	if l, ok := aliases[name]; ok {
		return l
	}
	return name
}

// catalogLabel returns the label of an indicator-catalogue tool, or false.
func catalogLabel(tool string) (string, bool) {
	l, ok := aliases[strings.TrimSpace(tool)]
	return l, ok
}

// deniedNames are image names too generic to identify a remote-access tool
// on their own (lower case), with the reason. They are dropped from every
// list wherever they come from.
var deniedNames = map[string]string{
	"agent.exe":               "generic name (Monitic)",
	"agent32.exe":             "generic name (IntelliAdmin)",
	"agent64.exe":             "generic name (IntelliAdmin)",
	"agent":                   "generic name",
	"dashboard":               "generic name",
	"client.exe":              "generic name",
	"service.exe":             "generic name",
	"setup.exe":               "generic installer name",
	"installer.exe":           "generic installer name",
	"installshield setup.exe": "generic installer name (InstallShield)",
	"update.exe":              "generic name",
	"updater.exe":             "generic name",
	"autoupdate.exe":          "generic name (Freshservice)",
	"launcher.exe":            "generic name",
	"helper.exe":              "generic name",
	"server.exe":              "generic name",
	"svchost.exe":             "Windows system process",
	"dwm.exe":                 "Windows system process (Desktop Window Manager); Teramind names a file dwm.exe",
	"mstsc.exe":               "built-in Windows RDP client (outbound); inbound RDP is the rdp-enabled rule",
	"connect.exe":             "generic name, listed for three unrelated tools (Zoho Assist, MSP360, Adobe Connect)",
	"rdp.exe":                 "generic name, listed for two unrelated tools (Pilixo, Remote Desktop Plus)",
	"remote desktop.exe":      "generic name (MSP360)",
	"online backup.exe":       "generic name (MSP360)",
	"supporttool.exe":         "generic name, listed for two unrelated tools (CrossTec, RdClient)",
	"notificationhelper.exe":  "generic name (Faronics Deploy)",
	"installcore.exe":         "generic name; InstallCore is a third-party installer bundler (RemotePulse)",
	"plink.exe":               "PuTTY's command-line SSH client, shipped by many products (Freshservice)",
	"upload.exe":              "generic name (VIZOR)",
	"recycler.exe":            "generic name (VIZOR)",
	"closeapp.exe":            "generic name (VIZOR)",
	"selfupdater.exe":         "generic name (VIZOR)",
	"httpget.exe":             "generic name (VIZOR)",
	"httppush.exe":            "generic name (VIZOR)",
	"cpuchk.exe":              "generic name (VIZOR)",
	"tmate-ready":             "a tmate state file, not a process",
	"ultimate_*.exe":          "glob too generic (DeskDay)",
	"agentsetup-*.exe":        "glob too generic: many vendors' installers (Naverisk)",
	"agent-installer-any.exe": "generic installer name (HeartbeatRM)",
}

// deniedServices are service names too generic or shared (lower case).
var deniedServices = map[string]string{
	"winring0_1_2_0":         "driver service of the WinRing0 library, shared by many hardware tools (Atera installs it)",
	"windows update service": "masquerade name (Komari), not an identity of the tool",
}

// deniedPaths are normalised paths dropped with a reason.
var deniedPaths = map[string]string{
	`*\yandex\*`:                               "matches every Yandex product, the browser included (Yandex.Disk)",
	`c:\program files*\yandex\*`:               "matches every Yandex product, the browser included (Yandex.Disk)",
	`c:\windows\syswow64\rserver30\famitrfc\*`: "a file of Radmin, not a folder",
	`c:\windows\syswow64\rserver30\famitrf2\*`: "a file of Radmin, not a folder",
}

// fixups correct evident typos in LOLRMM values (lower case, before
// classification). Each is stated against another source.
var fixups = map[string]string{
	"nxservice*.ese": "nxservice*.exe", // indicator catalogue row "nxd.exe; nxservice*.exe; nomachine*.exe" (LOLRMM nomachine.yaml)
	"g2mhost.exee":   "g2mhost.exe",    // the sibling G2M*.exe names of gotomypc.yaml
}

// relabel gives a value the label of the tool it belongs to when a LOLRMM
// file lists another tool's binary (lower case value).
var relabel = map[string]string{
	"syncrosetup.exe": "Syncro", // Syncro's installer, listed in atera.yaml
	"ezhelp*.exe":     "ezHelp", // ezHelp's image names (ezhelp.yaml), listed in eset_remote_administrator.yaml
}

// conflictWinner resolves a value that two labels claim (lower case value).
var conflictWinner = map[string]string{
	// Pocket Controller's file lists Wyse PocketCloud's service.
	"pocketcloudservice.exe": "Wyse PocketCloud",
	// BASupSrvc is the BeAnywhere (now N-able Take Control) support service,
	// as three LOLRMM files say; the catalogue's Bomgar row took it from Elastic.
	"basupsrvc.exe": "N-able",
}
