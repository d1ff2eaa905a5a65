//go:build !linux

package redistest

import "syscall"

// sysProcAttr: only Linux can tie a child's life to its parent's; elsewhere
// a test binary that dies without Main or t.Cleanup running leaves the
// server behind.
func sysProcAttr() *syscall.SysProcAttr { return nil }
