// Package app is the program: it reads the command line, wires the packages
// together and runs a command. main only hands it signals.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"tally/app/accounts"
	"tally/app/config"
	"tally/app/db"
	"tally/app/enrich"
	"tally/app/errs"
	"tally/app/ingest"
	"tally/app/mail"
	"tally/app/projects"
	"tally/app/realtime"
	"tally/app/server"
	"tally/app/web"
	"tally/jobs"
)

const usage = `tally: self-hosted product and web analytics

Usage:
  tally [serve] [--demo] [flags]     run the server (default); --demo adds a Demo project full of traffic
  tally migrate [flags]              apply migrations and SQL functions, then exit
  tally psql [flags] [-- psql args]  psql against the configured database
  tally project create --name NAME [--org NAME] [--domain D]... [flags]
  tally project set --id ID [--domain D]... [--browser-revenue=true|false]
  tally project filter add --id ID (--ip CIDR | --profile ID | --event NAME | --field F --op OP --value V)
  tally project filter list --id ID
  tally project filter remove --id ID --filter N
  tally user reset-link --email EMAIL  print a one-time password reset link (1 hour)
  tally geoip install [--city]       fetch the GeoIP databases into <data-dir>/geoip
  tally seed --project ID [--events N] [--days D] [--seed S]  write synthetic traffic into a project
  tally bench ingest [--events N] [--concurrency C] [--url URL] [--floor]
  tally bench overview [--events N] [--url URL]

Flags (each also an environment variable):
`

// Main runs one command and returns the process exit code.
func Main(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, env, stderr)
	case "migrate":
		err = migrateCmd(ctx, args, env, stderr)
	case "psql":
		err = psqlCmd(ctx, args, env, stdout, stderr)
	case "project":
		err = projectCmd(ctx, args, env, stdout, stderr)
	case "user":
		err = userCmd(ctx, args, env, stdout, stderr)
	case "geoip":
		err = geoipCmd(ctx, args, env, stderr)
	case "bench":
		err = benchCmd(ctx, args, env, stdout, stderr)
	case "seed":
		err = seedCmd(ctx, args, env, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+config.Usage())
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s%s", cmd, usage, config.Usage())
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage+config.Usage())
			return 0
		}
		fmt.Fprintf(stderr, "tally %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// commandDB is how a command that needs the database starts: its config
// flags and environment, its logger, the (embedded or external) database,
// migrated. The caller closes the database.
func commandDB(ctx context.Context, name string, args, env []string, stderr io.Writer) (config.Config, *db.DB, *slog.Logger, error) {
	cfg, _, err := config.Parse(name, args, env)
	if err != nil {
		return cfg, nil, nil, err
	}
	log := newLogger(cfg, stderr)
	d, err := openDB(ctx, cfg, log)
	return cfg, d, log, err
}

func openDB(ctx context.Context, cfg config.Config, log *slog.Logger) (*db.DB, error) {
	return db.Open(ctx, db.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Timescale: cfg.Timescale, Logger: log})
}

// Server is a running tally server, for serve and for tests that start the
// real program in-process.
type Server struct {
	URL    string // http://host:port
	DB     *db.DB
	Ingest *ingest.Service
	Writer *ingest.Writer
	// Routes is the whole HTTP surface (tests walk it to check every route).
	Routes http.Handler
	done   chan error
	cancel context.CancelFunc
}

// Start opens the database, starts the jobs and listens. Stop (or
// cancelling ctx) drains and shuts everything down.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	d, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := jobs.Maintain(ctx, d.Pool, time.Now()); err != nil {
		d.Close()
		return nil, err
	}
	geo, err := enrich.OpenGeo(cfg.GeoIPDir)
	if err != nil {
		log.Warn("GeoIP databases unusable; events get no location", "dir", cfg.GeoIPDir, "err", err)
	} else if geo.Lookup(netip.MustParseAddr("8.8.8.8")).Country == "" {
		log.Info("no GeoIP database installed; run `tally geoip install` for countries", "dir", cfg.GeoIPDir)
	}
	proxies, err := enrich.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("TALLY_TRUSTED_PROXIES: %w", err)
	}
	writer := ingest.NewWriter(d.Pool, ingest.WriterOptions{
		Queue: cfg.IngestQueue, Batch: cfg.IngestBatch, Writers: cfg.IngestWriters, MaxWait: cfg.IngestMaxWait,
		ProfileMaxWait: cfg.IngestProfileMaxWait,
	}, log)
	river, err := jobs.New(d.Pool, log)
	if err != nil {
		_ = writer.Close(ctx)
		d.Close()
		return nil, err
	}
	svc := ingest.NewService(ingest.Options{
		Pool: d.Pool, Writer: writer, Jobs: river, Projects: projects.NewStore(d.Pool), Geo: geo, TrustedProxies: proxies,
		RateLimit: cfg.IngestRateLimit, Logger: log,
	})
	if err := river.Start(context.WithoutCancel(ctx)); err != nil {
		_ = writer.Close(ctx)
		d.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = writer.Close(ctx)
		_ = river.Stop(ctx)
		d.Close()
		return nil, err
	}
	mailer, err := mail.New(cfg.SMTPURL, cfg.MailFrom)
	if err != nil {
		_ = ln.Close()
		_ = writer.Close(ctx)
		_ = river.Stop(ctx)
		d.Close()
		return nil, fmt.Errorf("TALLY_SMTP_URL: %w", err)
	}
	if mailer.Configured() && cfg.PublicURL == "" {
		log.Warn("TALLY_SMTP_URL is set but TALLY_PUBLIC_URL is not: password reset links are not mailed (a link built from a request's Host header could point anywhere); set TALLY_PUBLIC_URL")
	}
	// The realtime hub: one LISTEN connection for the live pages.
	hub := realtime.New(d.Pool, log)
	hub.Start()
	dash, err := web.New(ctx, web.Options{
		Pool: d.Pool, Accounts: accounts.NewStore(d.Pool), Projects: projects.NewStore(d.Pool),
		TrustedProxies: proxies, PublicURL: cfg.PublicURL, Log: log, Mail: mailer, Ingest: svc,
		Hub: hub,
	})
	if err != nil {
		hub.Stop()
		_ = ln.Close()
		_ = writer.Close(ctx)
		_ = river.Stop(ctx)
		d.Close()
		return nil, err
	}
	routes := server.Routes(server.Deps{Ingest: svc, Web: dash, Log: log})
	httpSrv := server.New(cfg.Listen, routes, log)
	s := &Server{URL: "http://" + ln.Addr().String(), DB: d, Ingest: svc, Writer: writer, Routes: routes, done: make(chan error, 1)}
	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("tally listening", "url", s.URL, "database", d.Describe(), "timescaledb", d.Timescale, "geoip_city", geo.HasCity())

	go func() {
		var err error
		select {
		case <-runCtx.Done():
		case err = <-serveErr:
		}
		// Drain in order: stop taking requests (in-flight ones wait for
		// their commits), flush the ingest queue, stop River, stop the database.
		log.Info("shutting down: draining ingest")
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer scancel()
		// Live streams (SSE) end first: Shutdown would wait for them.
		hub.Stop()
		if e := server.Shutdown(sctx, httpSrv); e != nil {
			log.Error("http shutdown", "err", e)
		}
		if e := writer.Close(sctx); e != nil {
			log.Error("ingest drain incomplete", "err", e)
		}
		// Running jobs get a few seconds to finish, then are cancelled:
		// every job resumes after a restart (the merge rewrite from its
		// last batch, the rollup refresh from the days still dirty), and a
		// stop must not wait out a refresh of a big backlog.
		jctx, jcancel := context.WithTimeout(sctx, 5*time.Second)
		if e := river.Stop(jctx); e != nil {
			if e := river.StopAndCancel(sctx); e != nil {
				log.Error("river stop", "err", e)
			}
		}
		jcancel()
		dash.Close()
		_ = geo.Close()
		d.Close()
		log.Info("stopped", "events_committed", writer.Committed.Load())
		s.done <- err
	}()
	return s, nil
}

// Stop shuts the server down and waits until it has.
func (s *Server) Stop() error {
	s.cancel()
	return s.Wait()
}

// Wait blocks until the server has stopped.
func (s *Server) Wait() error {
	err := <-s.done
	s.done <- err // later waiters see it too
	return err
}

func serve(ctx context.Context, args, env []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "create a Demo project full of synthetic traffic on first start (app/seed)")
	own, args := splitFlags(fs, args)
	if err := fs.Parse(own); err != nil {
		return err
	}
	cfg, _, err := config.Parse("serve", args, env)
	if err != nil {
		return err
	}
	// The server's live heap is small and its allocation rate high (every
	// event is decoded, enriched and encoded), so the default GC target
	// collects very often: 400 cut the server's CPU per event by a sixth in
	// `bench ingest` for about 35 MB more memory. GOGC still overrides it.
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") }) {
		debug.SetGCPercent(400)
	}
	log := newLogger(cfg, stderr)
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	if *demo {
		startDemo(ctx, s, log)
	}
	return s.Wait()
}

func migrateCmd(ctx context.Context, args, env []string, stderr io.Writer) error {
	_, d, log, err := commandDB(ctx, "migrate", args, env, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := jobs.Maintain(ctx, d.Pool, time.Now()); err != nil {
		return err
	}
	log.Info("database migrated", "database", d.Describe(), "timescaledb", d.Timescale)
	return nil
}

func psqlCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	// tally's own flags come first; everything else (or everything after
	// "--") goes to psql.
	var own, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "--") && (name == "listen" || name == "data-dir" || name == "database-url") {
			own = append(own, a)
			if !hasValue && i+1 < len(args) {
				own = append(own, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, args[i:]...)
		break
	}
	_, d, _, err := commandDB(ctx, "psql", own, env, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	psql := "psql"
	if d.Embedded != nil {
		if p := filepath.Join(d.Embedded.BinDir(), "psql"); fileExists(p) {
			psql = p
		}
	}
	cmd := exec.CommandContext(ctx, psql, append([]string{d.URL}, rest...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	return cmd.Run()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// splitFlags separates the command's own flags from the config flags.
func splitFlags(fs *flag.FlagSet, args []string) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if f := fs.Lookup(name); f != nil && strings.HasPrefix(a, "-") {
			own = append(own, a)
			_, isBool := f.Value.(interface{ IsBoolFlag() bool })
			if !hasValue && !isBool && i+1 < len(args) {
				own = append(own, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return own, rest
}

func projectCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tally project create --name NAME [--org NAME] [--domain D]... | tally project set --id ID [--domain D]... [--browser-revenue=BOOL]")
	}
	sub, args := args[0], args[1:]
	if sub == "filter" {
		return filterCmd(ctx, args, env, stdout, stderr)
	}
	fs := flag.NewFlagSet("project "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "project name")
	org := fs.String("org", "", "organization name (created if needed; default: the project name)")
	id := fs.String("id", "", "project id (set)")
	tz := fs.String("timezone", "UTC", "project timezone")
	revenue := fs.String("browser-revenue", "", "allow __revenue from browsers (true/false)")
	var domains listFlag
	fs.Var(&domains, "domain", "allowed domain for browser events (repeatable; *.example.com and * work)")
	own, rest := splitFlags(fs, args)
	if err := fs.Parse(own); err != nil {
		return err
	}
	_, d, _, err := commandDB(ctx, "project", rest, env, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	store := projects.NewStore(d.Pool)
	switch sub {
	case "create":
		if *name == "" {
			return errors.New("--name is required")
		}
		created, err := store.Create(ctx, projects.NewProject{Organization: *org, Name: *name, Domains: domains, Timezone: *tz})
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(created)
	case "set":
		if *id == "" {
			return errors.New("--id is required")
		}
		if len(domains) > 0 {
			if err := store.SetDomains(ctx, *id, domains); err != nil {
				return err
			}
		}
		if *revenue != "" {
			if err := store.SetBrowserRevenue(ctx, *id, *revenue == "true"); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, "ok")
		return nil
	}
	return fmt.Errorf("unknown project command %q (create, set)", sub)
}

// filterCmd manages a project's traffic filters (what is never stored).
func filterCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tally project filter add|list|remove --id PROJECT ...")
	}
	action, args := args[0], args[1:]
	fs := flag.NewFlagSet("project filter "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "project id")
	ip := fs.String("ip", "", "ignore an IP address or CIDR range")
	profile := fs.String("profile", "", "ignore a profile id")
	event := fs.String("event", "", "ignore events by name (* wildcards)")
	field := fs.String("field", "", "ignore events whose field ("+strings.Join(projects.FilterFields, ", ")+", properties.<key>) ...")
	op := fs.String("op", "", "... matches by "+strings.Join(projects.FilterOps, ", ")+" ...")
	value := fs.String("value", "", "... this value")
	filterID := fs.Int64("filter", 0, "filter id (remove)")
	own, rest := splitFlags(fs, args)
	if err := fs.Parse(own); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("--id is required")
	}
	_, d, _, err := commandDB(ctx, "project filter", rest, env, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	store := projects.NewStore(d.Pool)
	enc := json.NewEncoder(stdout)
	switch action {
	case "add":
		var f projects.Filter
		switch {
		case *ip != "":
			f = projects.Filter{Kind: projects.FilterIP, Value: *ip}
		case *profile != "":
			f = projects.Filter{Kind: projects.FilterProfile, Value: *profile}
		case *event != "":
			f = projects.Filter{Kind: projects.FilterEvent, Value: *event}
		case *field != "":
			f = projects.Filter{Kind: projects.FilterEvent, Field: *field, Op: *op, Value: *value}
		default:
			return errors.New("say what to ignore: --ip, --profile, --event or --field/--op/--value")
		}
		added, err := store.AddFilter(ctx, *id, f)
		if err != nil {
			return err
		}
		return enc.Encode(added)
	case "list":
		list, err := store.Filters(ctx, *id)
		if err != nil {
			return err
		}
		return enc.Encode(list)
	case "remove":
		return store.RemoveFilter(ctx, *id, *filterID)
	}
	return fmt.Errorf("unknown filter action %q (add, list, remove)", action)
}

// userCmd helps the administrator of a server without mail: it prints a
// one-time password reset link for an account.
func userCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reset-link" {
		return errors.New("usage: tally user reset-link --email EMAIL")
	}
	fs := flag.NewFlagSet("user reset-link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the account's email")
	own, rest := splitFlags(fs, args[1:])
	if err := fs.Parse(own); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	cfg, d, _, err := commandDB(ctx, "user", rest, env, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	token, _, err := accounts.NewStore(d.Pool).CreatePasswordReset(ctx, *email)
	if errs.KindOf(err) == errs.NotFound {
		return fmt.Errorf("no account has the email %q", *email)
	}
	if err != nil {
		return err
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	if base == "" {
		base = "http://" + cfg.Listen
	}
	fmt.Fprintln(stdout, base+"/reset/"+token)
	return nil
}

func geoipCmd(ctx context.Context, args, env []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "install" {
		return errors.New("usage: tally geoip install [--city]")
	}
	fs := flag.NewFlagSet("geoip install", flag.ContinueOnError)
	city := fs.Bool("city", false, "also install the DB-IP city databases (about 130 MB, CC BY 4.0)")
	own, rest := splitFlags(fs, args[1:])
	if err := fs.Parse(own); err != nil {
		return err
	}
	cfg, _, err := config.Parse("geoip", rest, env)
	if err != nil {
		return err
	}
	if err := enrich.Install(ctx, cfg.GeoIPDir, *city); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "GeoIP databases installed in %s\n", cfg.GeoIPDir)
	return nil
}
