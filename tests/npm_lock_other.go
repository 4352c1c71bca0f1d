//go:build !unix

package tests

import "os"

// lockFile does nothing where flock(2) is missing: there, test binaries
// that install the same packages for the first time at once may collide.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
