package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"tally/app/db"
	"tally/app/pgserver"
	"tally/app/projects"
)

// Child is a tally server started as a child process of this binary, on a
// fresh embedded cluster in a temporary data directory.
type Child struct {
	Exe     string
	DataDir string
	URL     string
	Env     []string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stderr  io.Writer
}

// childEnv is the parent's environment for the child: ingest tuning
// (TALLY_INGEST_*) and TALLY_GEOIP_DIR pass through; the database is always
// the embedded one, X-Forwarded-For from the bench is believed, and only
// warnings are logged.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DATABASE_URL", "TALLY_LISTEN", "TALLY_DATA_DIR", "TALLY_TRUSTED_PROXIES", "TALLY_LOG_LEVEL":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "TALLY_TRUSTED_PROXIES=127.0.0.1/32", "TALLY_LOG_LEVEL=warn")
}

// StartChild starts `serve` on a free port and waits until it is ready.
func StartChild(ctx context.Context, env []string, stderr io.Writer) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tally-bench-")
	if err != nil {
		return nil, err
	}
	// As root the cluster runs as "postgres", which must reach <dir>/postgres.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c, err := startProcess(ctx, "server", exe, dir, "http://"+addr, childEnv(env), stderr, "serve", "--listen", addr, "--data-dir", dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// startProcess runs this binary with args as a child (name, for messages) that serves at url,
// and waits until url/healthz/ready answers 200. Stop removes dataDir.
func startProcess(ctx context.Context, name, exe, dataDir, url string, env []string, stderr io.Writer, args ...string) (*Child, error) {
	c := &Child{Exe: exe, DataDir: dataDir, URL: url, Env: env, exited: make(chan struct{}), stderr: stderr}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Env = c.Env
	c.cmd.Stdout, c.cmd.Stderr = stderr, stderr
	// Own process group: a Ctrl-C reaches only us, and we stop the server
	// in order. Pdeathsig: if we die abruptly, so does it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()
	where := ""
	if dataDir != "" {
		where = ", data in " + dataDir
	}
	fmt.Fprintf(stderr, "bench: %s pid %d at %s%s\n", name, c.Pid(), c.URL, where)
	if err := c.waitReady(ctx, name, 3*time.Minute); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// Pid is the server's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

func (c *Child) waitReady(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/healthz/ready", nil)
		if res, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited during start-up: %v", name, c.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", name, timeout)
		}
	}
}

// CreateProject runs `project create` against the running server's cluster.
func (c *Child) CreateProject(ctx context.Context) (projects.Created, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Exe, "project", "create", "--name", "Bench", "--domain", "*", "--data-dir", c.DataDir)
	cmd.Env = c.Env
	cmd.Stdout, cmd.Stderr = &out, c.stderr
	if err := cmd.Run(); err != nil {
		return projects.Created{}, fmt.Errorf("project create: %w", err)
	}
	var p projects.Created
	if err := json.Unmarshal(out.Bytes(), &p); err != nil || p.ClientID == "" {
		return projects.Created{}, fmt.Errorf("project create printed %q: %v", out.String(), err)
	}
	return p, nil
}

// DatabaseURL connects to the child's embedded cluster over its socket.
func (c *Child) DatabaseURL() string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable",
		filepath.Join(c.DataDir, "postgres", "run"), pgserver.Port, db.EmbeddedDatabase)
}

// Stop sends SIGTERM, waits for the drain (SIGKILL after a minute) and
// removes the data directory.
func (c *Child) Stop() error {
	if c.DataDir != "" {
		defer os.RemoveAll(c.DataDir)
	}
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("server did not stop within a minute: killed")
	}
	return c.waitErr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RSS samples a process's resident memory.
type RSS struct {
	pid     int
	maxKB   atomic.Int64
	lastKB  atomic.Int64
	stop    chan struct{}
	stopped sync.WaitGroup
}

// SampleRSS reads /proc/<pid>/status every interval until Stop.
func SampleRSS(pid int, interval time.Duration) *RSS {
	r := &RSS{pid: pid, stop: make(chan struct{})}
	r.sample()
	r.stopped.Add(1)
	go func() {
		defer r.stopped.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				r.sample()
			}
		}
	}()
	return r
}

func (r *RSS) sample() {
	rss, _ := procStatusKB(r.pid, "VmRSS")
	r.lastKB.Store(rss)
	for {
		m := r.maxKB.Load()
		if rss <= m || r.maxKB.CompareAndSwap(m, rss) {
			return
		}
	}
}

// Stop ends sampling and returns the largest sample and the kernel's peak
// (VmHWM), in MB.
func (r *RSS) Stop() (maxMB, hwmMB float64) {
	close(r.stop)
	r.stopped.Wait()
	r.sample()
	hwm, _ := procStatusKB(r.pid, "VmHWM")
	return float64(r.maxKB.Load()) / 1024, float64(hwm) / 1024
}

// Current is the last sample in MB.
func (r *RSS) Current() float64 { return float64(r.lastKB.Load()) / 1024 }

func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			num, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			return strconv.ParseInt(num, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// CountStored counts this run's events stored after the warmup (sequence
// numbers above warmup), and all of the project's events, session events
// excluded.
func CountStored(ctx context.Context, dbURL, projectID, runID string, warmup int64) (run, all int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = conn.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE properties->>'bench_run' = $2 AND (properties->>'bench_seq')::bigint > $3),
		       count(*)
		FROM events
		WHERE project_id = $1 AND name <> 'session_start' AND name <> 'session_end'`,
		projectID, runID, warmup).Scan(&run, &all)
	return run, all, err
}

// Commits reads the database's committed transactions so far: across a
// phase, acknowledged events / commits estimates the writer's batch size.
func Commits(ctx context.Context, dbURL string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The statistics are a snapshot per transaction: clear it to see now.
	var n int64
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return 0, err
	}
	err = conn.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	return n, err
}

// ProjectOfClient looks up a client's project (--url mode).
func ProjectOfClient(ctx context.Context, dbURL, clientID string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var pid *string
	if err := conn.QueryRow(ctx, `SELECT project_id FROM clients WHERE id = $1`, clientID).Scan(&pid); err != nil {
		return "", fmt.Errorf("client %s: %w", clientID, err)
	}
	if pid == nil {
		return "", fmt.Errorf("client %s has no project", clientID)
	}
	return *pid, nil
}

// clockTick is USER_HZ, the unit of the times in /proc/<pid>/stat (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// CPU is the processor time used so far by a process and by its descendants.
type CPU struct {
	Own         time.Duration // the process itself
	Descendants time.Duration // its live descendants, and the children they reaped
}

// ProcessCPU reads /proc for pid and its descendants (for the server: the
// embedded postmaster and its backends).
func ProcessCPU(pid int) (CPU, error) {
	t, err := readProcTimes(pid)
	if err != nil {
		return CPU{}, err
	}
	return CPU{Own: t.ownUser + t.ownSys, Descendants: t.descUser + t.descSys}, nil
}

// procTimes is a process's user and system time and its descendants'
// (live ones, and the children they reaped), from /proc/<pid>/stat.
type procTimes struct {
	ownUser, ownSys, descUser, descSys time.Duration
}

func (a procTimes) sub(b procTimes) procTimes {
	return procTimes{a.ownUser - b.ownUser, a.ownSys - b.ownSys, a.descUser - b.descUser, a.descSys - b.descSys}
}

func readProcTimes(pid int) (procTimes, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return procTimes{}, err
	}
	type stat struct{ user, sys, cuser, csys time.Duration }
	procs := map[int]stat{}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var t [4]time.Duration
		for j := range t {
			n, _ := strconv.ParseInt(f[11+j], 10, 64)
			t[j] = time.Duration(n) * clockTick
		}
		procs[p] = stat{t[0], t[1], t[2], t[3]}
		children[ppid] = append(children[ppid], p)
	}
	root, ok := procs[pid]
	if !ok {
		return procTimes{}, fmt.Errorf("no process %d", pid)
	}
	pt := procTimes{ownUser: root.user, ownSys: root.sys, descUser: root.cuser, descSys: root.csys}
	stack := append([]int(nil), children[pid]...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		s := procs[p]
		pt.descUser += s.user + s.cuser
		pt.descSys += s.sys + s.csys
		stack = append(stack, children[p]...)
	}
	return pt, nil
}

// SelfCPU is this process's processor time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
