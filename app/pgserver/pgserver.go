// Package pgserver runs a private PostgreSQL cluster from the machine's server
// binaries: the embedded database of `tally serve` when DATABASE_URL is unset,
// and the throwaway clusters of the test suite.
//
// The cluster listens only on a Unix socket in a private directory, so two
// clusters (or a system PostgreSQL) never fight over a TCP port. PostgreSQL
// refuses to run as root, so when we are root the cluster belongs to, and
// runs as, the "postgres" user.
package pgserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Port is the port number in the socket file name (.s.PGSQL.<Port>). The
// socket directory is private, so a fixed number never collides.
const Port = 5432

// Options describe one cluster.
type Options struct {
	// Dir holds the cluster: Dir/pgdata (the data directory), Dir/run (the
	// socket directory) and Dir/postgres.log.
	Dir string
	// Settings are extra server settings (-c name=value), e.g. fsync=off for tests.
	Settings map[string]string
	Logger   *slog.Logger
}

// Server is a running cluster.
type Server struct {
	dir, dataDir, sockDir string
	bin                   string
	cmd                   *exec.Cmd
	done                  chan struct{}
	waitErr               error
	log                   *slog.Logger
	attached              bool // started by another process: Stop leaves it running
}

var errRunning = errors.New("cluster already running")

// ErrNoBinaries says the PostgreSQL server binaries are not installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found: " +
	"install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16) " +
	"or set DATABASE_URL to use an existing PostgreSQL")

// FindBinDir returns the directory of the newest PostgreSQL server binaries,
// looking at `pg_config --bindir`, PATH and /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	globbed2, _ := filepath.Glob("/usr/local/pgsql*/bin")
	candidates = append(candidates, globbed...)
	candidates = append(candidates, globbed2...)

	best, bestVer := "", -1
	for _, dir := range candidates {
		if !isExec(filepath.Join(dir, "postgres")) || !isExec(filepath.Join(dir, "initdb")) {
			continue
		}
		if v := majorVersion(dir); v > bestVer {
			best, bestVer = dir, v
		}
	}
	if best == "" {
		return "", ErrNoBinaries
	}
	return best, nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// majorVersion asks `postgres --version` ("postgres (PostgreSQL) 15.20").
func majorVersion(dir string) int {
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0
	}
	major, _, _ := strings.Cut(fields[len(fields)-1], ".")
	v, _ := strconv.Atoi(major)
	return v
}

// Start initializes the cluster in opts.Dir if needed and starts it, reusing
// an existing cluster and recovering from a stale postmaster.pid left by a crash.
func Start(ctx context.Context, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir: dir, dataDir: filepath.Join(dir, "pgdata"), sockDir: filepath.Join(dir, "run"),
		bin: bin, log: log, done: make(chan struct{}),
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := reachable(filepath.Dir(dir), cred); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.MkdirAll(s.sockDir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		// The postgres user must own its directories (and be able to reach them).
		for _, p := range []string{dir, s.sockDir} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}

	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("initializing embedded PostgreSQL cluster", "dir", s.dataDir, "bin", bin)
		_ = os.RemoveAll(s.dataDir) // a half-made cluster from an interrupted initdb
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
			"-D", s.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(string(out), 10))
		}
	} else if err != nil {
		return nil, err
	}
	if err := s.clearStaleLock(); errors.Is(err, errRunning) {
		// Another process of ours runs this cluster (a `tally psql` or
		// `project create` while the server runs): use it, don't own it.
		log.Debug("attaching to the running embedded PostgreSQL", "dir", s.dataDir)
		s.attached = true
		return s, nil
	} else if err != nil {
		return nil, err
	}

	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor

	settings := map[string]string{}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	// TimescaleDB must be preloaded; when the machine has it, offer it
	// (whether a database uses it is decided by the migrations).
	if _, set := settings["shared_preload_libraries"]; !set && TimescaleInstalled(bin) {
		settings["shared_preload_libraries"] = "timescaledb"
		settings["timescaledb.telemetry_level"] = "off"
	}
	args := []string{"-D", s.dataDir, "-k", s.sockDir, "-p", strconv.Itoa(Port),
		"-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	// Not CommandContext: the cluster must outlive a cancelled start-up
	// context and stop only through Stop.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Pdeathsig: if we die without Stop (kill -9, a crashed test binary), the
	// cluster shuts down instead of lingering.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()

	if err := s.waitReady(ctx, logPath); err != nil {
		_ = s.Stop()
		return nil, err
	}
	log.Debug("embedded PostgreSQL ready", "socket", s.sockDir)
	return s, nil
}

// TimescaleInstalled reports whether the TimescaleDB extension is installed
// for the server binaries in bin (Debian layout: bin/../lib/timescaledb.so).
func TimescaleInstalled(bin string) bool {
	_, err := os.Stat(filepath.Join(bin, "..", "lib", "timescaledb.so"))
	return err == nil
}

// credential returns the postgres user's credential when we are root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a \"postgres\" system user to own the embedded cluster (PostgreSQL refuses root): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// reachable makes dir, and the directories above it, enterable by the
// cluster's owner (cred, the postgres user when we run as root): the
// directories it creates are 0755 (MkdirAll's 0700 under root once made a
// fresh clone's ./data unreachable, and initdb failed), and an existing one
// the owner cannot enter is an error that says which and what to do.
func reachable(dir string, cred *syscall.Credential) error {
	var missing []string
	p := dir
	for {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create %s: %w", missing[i], err)
		}
		if err := os.Chmod(missing[i], 0o755); err != nil { // whatever the umask
			return err
		}
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		st, ok := fi.Sys().(*syscall.Stat_t)
		enter := mode&0o001 != 0 || (ok && st.Uid == cred.Uid && mode&0o100 != 0) || (ok && st.Gid == cred.Gid && mode&0o010 != 0)
		if !enter {
			return fmt.Errorf("the embedded PostgreSQL runs as the postgres user, which cannot enter %s (mode %#o): "+
				"choose a data directory it can reach, or let it in (chmod o+x %s)", p, mode, p)
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

// clearStaleLock removes postmaster.pid (and the socket lock) when the
// process it names is gone or is not a postgres: after a crash or a reboot
// the PID may have been reused by something else, and postgres would refuse
// to start.
func (s *Server) clearStaleLock() error {
	pidFile := filepath.Join(s.dataDir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if pid > 0 {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
			cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
			if cwd == s.dataDir {
				return errRunning
			}
		}
	}
	s.log.Warn("removing stale postmaster.pid left by an unclean shutdown", "pid", pid)
	_ = os.Remove(filepath.Join(s.sockDir, fmt.Sprintf(".s.PGSQL.%d.lock", Port)))
	_ = os.Remove(filepath.Join(s.sockDir, fmt.Sprintf(".s.PGSQL.%d", Port)))
	return os.Remove(pidFile)
}

func (s *Server) waitReady(ctx context.Context, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			tail, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited during start-up (%v): %s", s.waitErr, lastLines(string(tail), 8))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.ConnString("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not become ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ConnString returns a connection string for database db on this cluster.
func (s *Server) ConnString(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.sockDir, Port, db)
}

// SocketDir is the directory of the cluster's Unix socket.
func (s *Server) SocketDir() string { return s.sockDir }

// BinDir is the directory of the server binaries in use (psql is looked up there first).
func (s *Server) BinDir() string { return s.bin }

// Stop shuts the cluster down (fast shutdown: open sessions are cut, committed
// data is safe) and waits for it to exit.
func (s *Server) Stop() error {
	if s == nil || s.attached || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.done
	}
	return nil
}

// Kill stops the cluster abruptly, as a crash would (tests of recovery).
func (s *Server) Kill() {
	// Every process of the cluster at once, as a machine crash would:
	// backends run in their own sessions (PostgreSQL calls setsid), and
	// killed alone the postmaster leaves them to finish, and commit, what
	// they were doing before they notice.
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP) // no new backends while we look
	for _, child := range childPids(pid) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-s.done
}

// childPids lists the processes whose parent is pid (from /proc).
func childPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may contain spaces, so parse
		// after its closing parenthesis.
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
