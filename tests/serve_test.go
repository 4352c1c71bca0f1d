package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's promise, with the real binary: `tally serve` with no
// DATABASE_URL runs its own PostgreSQL in the data directory, `project
// create` works beside it, events are stored, SIGTERM drains and exits 0
// (stopping the cluster), and a second start finds everything again.
func TestServeWithEmbeddedPostgres(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "tally")
	build := exec.Command("go", "build", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp, err := os.MkdirTemp("", "tally-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	// As in a fresh clone: the checkout is 0755, ./data does not exist yet
	// (the server must create it so that the cluster's owner, postgres
	// when we are root, can reach it).
	_ = os.Chmod(tmp, 0o755)
	data := filepath.Join(tmp, "data")

	env := append(os.Environ(), "TALLY_DATA_DIR="+data, "DATABASE_URL=", "TALLY_LOG_FORMAT=json")
	start := func() (*exec.Cmd, string, *bytes.Buffer) {
		t.Helper()
		addr := freeAddr(t)
		cmd := exec.Command(bin, "serve", "--listen", addr)
		cmd.Env = env
		var logs bytes.Buffer
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				logs.WriteString(sc.Text() + "\n")
				var line struct{ Msg, URL string }
				if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "tally listening" {
					ready <- line.URL
				}
			}
		}()
		select {
		case url := <-ready:
			return cmd, url, &logs
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		return nil, "", nil
	}
	stop := func(cmd *exec.Cmd) {
		t.Helper()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve exited with %v after SIGTERM", err)
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("serve did not stop within a minute of SIGTERM")
		}
	}

	cmd, url, logs := start()
	if !strings.Contains(logs.String(), "embedded PostgreSQL") {
		t.Errorf("the start-up log does not name the database:\n%s", logs)
	}
	create := exec.Command(bin, "project", "create", "--name", "Serve Test", "--domain", "example.com")
	create.Env = env
	out, err := create.Output()
	if err != nil {
		t.Fatalf("project create beside the running server: %v", err)
	}
	var project struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(out, &project); err != nil || project.ClientID == "" {
		t.Fatalf("project create printed %q", out)
	}
	for i := range 5 {
		body := fmt.Sprintf(`{"type":"track","payload":{"name":"served","properties":{"i":%d}}}`, i)
		req, _ := http.NewRequest(http.MethodPost, url+"/api/track", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("openpanel-client-id", project.ClientID)
		req.Header.Set("openpanel-client-secret", project.ClientSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("track: %d", res.StatusCode)
		}
	}
	stop(cmd)
	if pids, _ := filepath.Glob(filepath.Join(data, "postgres", "pgdata", "postmaster.pid")); len(pids) != 0 {
		t.Fatal("the embedded PostgreSQL is still running after the server stopped")
	}

	cmd, _, _ = start()
	defer stop(cmd)
	psql := exec.Command(bin, "psql", "-At", "-c", "select count(*) from events where name = 'served'")
	psql.Env = env
	out, err = psql.Output()
	if err != nil || strings.TrimSpace(string(out)) != "5" {
		t.Fatalf("after a restart psql counted %q (%v), want 5", out, err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
