#!/bin/sh
# Removes the farmwatch agent from this Mac. With --purge, also its
# settings and state (identity, spool).
#   sudo "/Library/Application Support/farmwatch/uninstall.sh" [--purge]
set -e
/bin/launchctl bootout system/farmwatch-agent 2>/dev/null || true
/bin/rm -f /Library/LaunchDaemons/farmwatch-agent.plist /usr/local/bin/farmwatch-agent /usr/local/bin/farmwatch-agentd \
	/private/etc/newsyslog.d/farmwatch-agent.conf
if [ "$1" = --purge ]; then
	/bin/rm -rf "/Library/Application Support/farmwatch" /Library/Logs/farmwatch-agent.log*
else
	/bin/rm -f "/Library/Application Support/farmwatch/uninstall.sh"
fi
/usr/sbin/pkgutil --forget com.farmwatch.agent >/dev/null 2>&1 || true
echo "farmwatch agent removed"
