import csv, re, hashlib, sys
rows = {}
def add(os_, name, vendor, src):
    name = name.strip().strip('"')
    if not name or '*' in name or '?' in name: return
    k = (os_, name.lower())
    if k not in rows: rows[k] = (os_, name, vendor, src)
# Elastic: multiple vendors rule (name -> vendor)
el = open('el_multi.toml').read()
for n, v in re.findall(r'process\.name\.caseless == "([^"]+)", "([^"]+)"', el):
    add('windows', n, v, 'elastic/detection-rules@14cf530f rules/windows/command_and_control_multiple_rmm_vendors_same_host.toml')
el2 = open('el_new.toml').read()
sect = el2.split('process.name.caseless')[1].split("'''")[0]
for n in re.findall(r'"([^"]+\.exe)"', sect):
    add('windows', n, '', 'elastic/detection-rules@14cf530f rules/windows/command_and_control_new_terms_commonly_abused_rmm.toml')
for r in csv.DictReader(open('splunk.csv')):
    u = r['remote_utility'].strip()
    if u.lower().endswith('.exe'):
        add('windows', u, r['description'], 'splunk/security_content@b13b314a lookups/remote_access_software20240726.csv')
deb = {
 'tigervnc-standalone-server 1.12.0+dfsg-8': ['Xtigervnc','tigervncserver','tigervncsession'],
 'tigervnc-scraping-server 1.12.0+dfsg-8': ['X0tigervnc','x0tigervncserver'],
 'tigervnc-viewer 1.12.0+dfsg-8': ['xtigervncviewer'],
 'tightvncserver 1:1.3.10-7': ['Xtightvnc','tightvncserver'],
 'x11vnc 0.9.16-9': ['x11vnc'],
 'xrdp 0.9.21.1-1+deb12u3': ['xrdp','xrdp-sesman','xrdp-chansrv'],
 'krfb 4:22.12.3-1': ['krfb','krfb-virtualmonitor'],
 'vino 3.22.0-6': ['vino-server'],
 'wayvnc 0.5.0-1': ['wayvnc'],
 'gnome-remote-desktop 43.3-1': ['gnome-remote-desktop-daemon'],
 'freerdp2-shadow-x11 2.11.7+dfsg1-6~deb12u1': ['freerdp-shadow-cli'],
}
for pkg, names in deb.items():
    for n in names:
        add('linux', n, pkg.split()[0], 'Debian bookworm package '+pkg+' (dpkg -c)')
for os_ in ('linux','darwin'):
    for n in ('TeamViewer_Service','TeamViewer_Desktop'):
        add(os_, n, 'TeamViewer', 'SigmaHQ/sigma@8eaafff1 rules/%s/process_creation/proc_creation_%s_remote_access_tools_teamviewer_incoming_connection.yml' % ({'linux':'linux','darwin':'macos'}[os_], {'linux':'lnx','darwin':'macos'}[os_]))
for n in ('meshagent','meshagent_osx64'):
    add('darwin', n, 'MeshCentral', 'SigmaHQ/sigma@8eaafff1 rules/macos/process_creation/proc_creation_macos_remote_access_tools_renamed_meshagent_execution.yml')
extra = [l for l in open(sys.argv[1])] if len(sys.argv) > 1 else []
for l in extra:
    l = l.rstrip('\n')
    if not l or l.startswith('#'): continue
    os_, n, v, s = l.split('\t')
    add(os_, n, v, s)
EXCLUDE = {
 # not remote-access tools: OS built-ins, shells, VPNs, backup, DFIR, chat
 'powershell.exe','mstsc.exe','termsrv.exe','qq.exe','online backup.exe','velociraptor.exe','tailscale.exe','twingate.exe',
 # names too generic to belong to one product (other programs share them)
 'connect.exe','dd.exe','rd.exe','rv.exe','updater.exe','agent32.exe','agent64.exe','rdp.exe','remote desktop.exe','supporttool.exe',
}
for k in list(rows):
    if k[1] in EXCLUDE: del rows[k]
def split(os_, n):
    h = int(hashlib.sha256(('farmwatch-holdout|'+os_+'|'+n.lower()).encode()).hexdigest(), 16)
    return 'holdout' if h % 10 < 3 else 'train'
print('# Real process names of remote-access tools per OS, for TestRemoteAccessNames (rules/rmmnames_test.go).')
print('# Built by a one-off script from the sources named per row; split = holdout for ~30 %, fixed by')
print('# sha256("farmwatch-holdout|os|name") % 10 < 3 before any rule was written for these names.')
print('# Left out as not remote-access tools or too generic to name one product: ' + ', '.join(sorted(EXCLUDE)))
print('# os\tname\tvendor\tsplit\tsource')
for k in sorted(rows):
    os_, n, v, s = rows[k]
    print('\t'.join([os_, n, v, split(os_, n), s]))
