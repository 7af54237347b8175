package statefile

// MkdirPrivate creates the directory dir, with its parents, and makes it
// and everything in it private to the system, also when it already
// existed: on Unix the directory and its subdirectories are 0700 and its
// files 0600 (owned by whoever runs the agent, root when installed); on
// Windows the directory gets an explicit, protected DACL granting full
// control to SYSTEM and Administrators alone, which its files and
// subdirectories inherit (Go's permission bits do nothing there, and
// C:\ProgramData lets Users read).
func MkdirPrivate(dir string) error { return mkdirPrivate(dir) }
