//go:build !linux

package redisserver

import "syscall"

// sysProcAttr: only Linux can tie the server's life to the test binary's;
// elsewhere t.Cleanup alone stops it.
func sysProcAttr() *syscall.SysProcAttr { return nil }
