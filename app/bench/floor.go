package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The floor server is what `bench ingest --floor` measures instead of tally:
// the least any server on this stack must do per event. It reads the
// request over net/http, stores one short row in events with COPY, in
// group commits like tally's writer, and answers only after the commit.
// It does none of tally's work: no decoding, authentication, enrichment,
// sessions, deduplication or profiles. What it reaches on a machine is the
// most tally could reach there; see the README ("What the parts cost on
// their own").

// FloorOptions tune the floor server's writer.
type FloorOptions struct {
	Listen, Project string
	Writers         int
	MaxWait         time.Duration
	Keys            bool // also write dedup keys and session heads (floorCommitWithKeys)

	onQueued func() // tests: an event has been handed to the writers
}

// floorBatch is the most rows in one COPY (tally's default batch).
const floorBatch = 256

// FloorServeCmd parses `bench floor-server` flags and serves until ctx ends
// (SIGTERM): then it stops accepting and commits what it has acknowledged.
func FloorServeCmd(ctx context.Context, args, env []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench floor-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := FloorOptions{}
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8081", "address to listen on")
	fs.StringVar(&o.Project, "project", "", "project id of the stored rows")
	fs.IntVar(&o.Writers, "writers", 4, "concurrent COPY transactions")
	fs.DurationVar(&o.MaxWait, "max-wait", 500*time.Microsecond, "how long a batch waits to fill")
	fs.BoolVar(&o.Keys, "keys", false, "also write a dedup key per event and upsert each device's session head")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Project == "" || o.Writers < 1 || o.MaxWait < 0 {
		return errors.New("bench floor-server needs --project, --writers ≥ 1 and --max-wait ≥ 0")
	}
	dsn := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			dsn = v
		}
	}
	if dsn == "" {
		return errors.New("bench floor-server needs DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(o.Writers) // pgxpool's default (4 here) would cap --writers
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Ready means able to store: a bad DATABASE_URL fails the start, not
	// every request.
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pool.Ping(pingCtx)
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	return ServeFloor(ctx, ln, pool, o)
}

type floorEvent struct {
	device string
	done   chan error // buffered
}

// ServeFloor serves the floor server on ln until ctx ends, then drains.
func ServeFloor(ctx context.Context, ln net.Listener, pool *pgxpool.Pool, o FloorOptions) error {
	queue := make(chan *floorEvent, 8192)
	var mu sync.RWMutex // guards closed against a late request racing close(queue)
	closed := false
	writersDone := make(chan struct{})
	go func() {
		defer close(writersDone)
		done := make(chan struct{}, o.Writers)
		for range o.Writers {
			go func() { floorWriter(pool, o, queue); done <- struct{}{} }()
		}
		for range o.Writers {
			<-done
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		// A row per visitor, as tally's device ids are: a hash of the
		// address and user agent (tally's is salted).
		sum := sha256.Sum256([]byte(r.Header.Get("X-Forwarded-For") + " " + r.UserAgent()))
		ev := &floorEvent{device: hex.EncodeToString(sum[:16]), done: make(chan error, 1)}
		mu.RLock()
		if closed {
			mu.RUnlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		queue <- ev
		mu.RUnlock()
		if o.onQueued != nil {
			o.onQueued()
		}
		if err := <-ev.done; err != nil {
			http.Error(w, "not stored", http.StatusServiceUnavailable)
			return
		}
		w.Header()["Content-Type"] = jsonType
		_, _ = w.Write(floorAnswer)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	// Handlers still waiting hold events that are queued: let them finish,
	// then no one can send on the queue any more.
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	mu.Lock()
	closed = true
	close(queue)
	mu.Unlock()
	<-writersDone
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

var (
	jsonType    = []string{"application/json"}
	floorAnswer = []byte(`{"deviceId":"0123456789abcdef0123456789abcdef","sessionId":"01234567-89ab-cdef-0123-456789abcdef"}`)
)

func floorWriter(pool *pgxpool.Pool, o FloorOptions, queue <-chan *floorEvent) {
	batch := make([]*floorEvent, 0, floorBatch)
	rows := make([][]any, 0, floorBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for first := range queue {
		batch = append(batch[:0], first)
		timer.Reset(o.MaxWait)
	fill:
		for len(batch) < floorBatch {
			select {
			case ev, ok := <-queue:
				if !ok {
					break fill
				}
				batch = append(batch, ev)
			case <-timer.C:
				break fill
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		now := time.Now()
		rows = rows[:0]
		for _, ev := range batch {
			rows = append(rows, []any{uuid.New(), o.Project, "screen_view", ev.device, now, "/"})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		if o.Keys {
			err = floorCommitWithKeys(ctx, pool, o.Project, now, rows)
		} else {
			_, err = pool.CopyFrom(ctx, pgx.Identifier{"events"}, floorColumns, pgx.CopyFromRows(rows))
		}
		cancel()
		for _, ev := range batch {
			ev.done <- err
		}
	}
}

var floorColumns = []string{"id", "project_id", "name", "device_id", "created_at", "path"}

// floorCommitWithKeys stores the rows as the floor does and, in the same
// transaction, the least any exactly-once, sessionized ingest also writes:
// a dedup key per event and an upsert of each device's session head. No
// session is decided and nothing is read back.
func floorCommitWithKeys(ctx context.Context, pool *pgxpool.Pool, project string, now time.Time, rows [][]any) error {
	keys := make([][]byte, len(rows))
	devices := make([]string, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	for i, r := range rows {
		id := r[0].(uuid.UUID)
		keys[i] = id[:]
		if d := r[3].(string); !seen[d] {
			seen[d] = true
			devices = append(devices, d)
		}
	}
	slices.Sort(devices) // every writer locks heads in the same order
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, floorColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO session_heads (project_id, device_id, session_id, started_at, last_event_at)
			SELECT $1, d, gen_random_uuid(), $2, $2 FROM unnest($3::text[]) d
			ON CONFLICT ON CONSTRAINT session_heads_pkey DO UPDATE SET last_event_at = excluded.last_event_at`,
			project, now, devices)
		b.Queue(`INSERT INTO ingest_dedup (key, device_id, created_at)
			SELECT k, '', $1 FROM unnest($2::bytea[]) k ON CONFLICT DO NOTHING`, now, keys)
		return tx.SendBatch(ctx, b).Close()
	})
}

// startFloor starts `bench floor-server` as a child process on the database
// of the tally child db, and waits until it answers.
func startFloor(ctx context.Context, db *Child, project string, writers int, maxWait time.Duration, keys bool, stderr io.Writer) (*Child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := append(append([]string(nil), db.Env...), "DATABASE_URL="+db.DatabaseURL())
	return startProcess(ctx, "floor server", db.Exe, "", "http://"+addr, env, stderr,
		"bench", "floor-server", "--listen", addr, "--project", project,
		"--writers", strconv.Itoa(writers), "--max-wait", maxWait.String(), "--keys="+strconv.FormatBool(keys))
}
