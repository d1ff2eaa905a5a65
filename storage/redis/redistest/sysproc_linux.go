package redistest

import "syscall"

// sysProcAttr has the kernel kill a throwaway server when the test binary
// dies without stopping it (a panic, a timeout, SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
