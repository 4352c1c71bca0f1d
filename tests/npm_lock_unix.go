//go:build unix

package tests

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, waiting for it. The kernel
// drops it when the process dies, so a crashed test binary leaves no stale lock.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
