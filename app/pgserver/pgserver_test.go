package pgserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Run as root, the cluster belongs to the postgres user, which must be able
// to enter every directory above it: the ones the server creates (a fresh
// clone's ./data) are made enterable, and one it cannot enter is a clear
// error naming it.
func TestReachable(t *testing.T) {
	cred, err := credential()
	if err != nil || cred == nil {
		t.Skip("needs root and a postgres user:", err)
	}
	tmp, err := os.MkdirTemp("", "tally-reach-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(tmp, "checkout", "data")
	if err := reachable(data, cred); err != nil {
		t.Fatalf("fresh data directory: %v", err)
	}
	for _, p := range []string{filepath.Join(tmp, "checkout"), data} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v, %v; want a 0755 directory", p, fi.Mode(), err)
		}
	}

	closed := filepath.Join(tmp, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	err = reachable(filepath.Join(closed, "data"), cred)
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+closed+" ") {
		t.Fatalf("data directory under a 0700 one: %v; want an error naming %s", err, closed)
	}
}
