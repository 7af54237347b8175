// Command standin is a harmless process that only waits to be killed. The
// Linux capture script installs copies of it under the names and paths of
// remote-access tools (/usr/bin/anydesk ...), so that a snapshot records real
// processes with those names, paths, arguments and users.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
