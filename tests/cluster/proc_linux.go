package main

import "syscall"

// childAttrs: each child gets its own process group (a terminal's Ctrl-C
// reaches only `up`, which then stops the children in order) and is killed
// by the kernel when `up` dies, however it dies.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
