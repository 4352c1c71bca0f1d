// Package config declares the server's configuration once: every setting has
// a flag, an environment variable and a default, is validated at start, and
// prints with secrets redacted.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the typed configuration of a tally process.
type Config struct {
	Listen         string // TALLY_LISTEN, --listen
	DataDir        string // TALLY_DATA_DIR, --data-dir
	DatabaseURL    string // DATABASE_URL: an external PostgreSQL; empty runs the embedded one
	GeoIPDir       string // TALLY_GEOIP_DIR: MaxMind-format databases (default <data-dir>/geoip)
	TrustedProxies string // TALLY_TRUSTED_PROXIES: CIDRs whose client-IP headers are believed
	Timescale      string // TALLY_TIMESCALE: auto (use TimescaleDB when available), off
	LogLevel       string // TALLY_LOG_LEVEL: debug, info, warn, error
	LogFormat      string // TALLY_LOG_FORMAT: text or json

	IngestQueue     int           // TALLY_INGEST_QUEUE: events waiting for the writer before 503
	IngestBatch     int           // TALLY_INGEST_BATCH: most events in one commit
	IngestWriters   int           // TALLY_INGEST_WRITERS: concurrent writer transactions
	IngestMaxWait   time.Duration // TALLY_INGEST_MAX_WAIT: how long a batch may wait to fill
	IngestRateLimit int           // TALLY_INGEST_RATE_LIMIT: requests per second per client IP without a secret (0: off)
	ShutdownTimeout time.Duration // TALLY_SHUTDOWN_TIMEOUT: how long SIGTERM waits for the drain

	IngestProfileMaxWait time.Duration // TALLY_INGEST_PROFILE_MAX_WAIT: how long a batch of server-side identifies and increments may wait to fill

	PublicURL string // TALLY_PUBLIC_URL: the dashboard's address in links (emails, snippets); empty: from each request
	SMTPURL   string // TALLY_SMTP_URL: smtp://user:pass@host:587 (STARTTLS) or smtps://...:465; empty prints links to the log instead
	MailFrom  string // TALLY_MAIL_FROM: sender of invitations and password resets
}

type setting struct {
	flag, env, def, usage string
	set                   func(*Config, string) error
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func num(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", v)
		}
		*dst(c) = n
		return nil
	}
}

func dur(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration (like 5s): %q", v)
		}
		*dst(c) = d
		return nil
	}
}

var settings = []setting{
	{"listen", "TALLY_LISTEN", "127.0.0.1:8080", "address to listen on", str(func(c *Config) *string { return &c.Listen })},
	{"data-dir", "TALLY_DATA_DIR", "./data", "directory for the embedded PostgreSQL and GeoIP files", str(func(c *Config) *string { return &c.DataDir })},
	{"database-url", "DATABASE_URL", "", "external PostgreSQL URL (empty: embedded cluster in <data-dir>/postgres)", str(func(c *Config) *string { return &c.DatabaseURL })},
	{"geoip-dir", "TALLY_GEOIP_DIR", "", "GeoIP databases (default <data-dir>/geoip)", str(func(c *Config) *string { return &c.GeoIPDir })},
	{"trusted-proxies", "TALLY_TRUSTED_PROXIES", "", "comma-separated CIDRs of reverse proxies whose client-IP headers are trusted", str(func(c *Config) *string { return &c.TrustedProxies })},
	{"timescale", "TALLY_TIMESCALE", "auto", "use TimescaleDB when available (auto) or never (off)", str(func(c *Config) *string { return &c.Timescale })},
	{"log-level", "TALLY_LOG_LEVEL", "info", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
	{"log-format", "TALLY_LOG_FORMAT", "text", "text or json", str(func(c *Config) *string { return &c.LogFormat })},
	{"ingest-queue", "TALLY_INGEST_QUEUE", "20000", "events that may wait for the writer before ingest answers 503", num(func(c *Config) *int { return &c.IngestQueue })},
	{"ingest-batch", "TALLY_INGEST_BATCH", "256", "most events committed in one transaction", num(func(c *Config) *int { return &c.IngestBatch })},
	{"ingest-writers", "TALLY_INGEST_WRITERS", "2", "concurrent writer transactions", num(func(c *Config) *int { return &c.IngestWriters })},
	{"ingest-max-wait", "TALLY_INGEST_MAX_WAIT", "5ms", "how long a batch waits to fill before it commits", dur(func(c *Config) *time.Duration { return &c.IngestMaxWait })},
	{"ingest-profile-max-wait", "TALLY_INGEST_PROFILE_MAX_WAIT", "500us", "how long a batch of server-side identifies and increments waits to fill before it commits", dur(func(c *Config) *time.Duration { return &c.IngestProfileMaxWait })},
	{"ingest-rate-limit", "TALLY_INGEST_RATE_LIMIT", "100", "requests per second per client IP from browsers (0: no limit)", num(func(c *Config) *int { return &c.IngestRateLimit })},
	{"public-url", "TALLY_PUBLIC_URL", "", "the dashboard's public address for links, like https://stats.example.com (empty: taken from each request)", str(func(c *Config) *string { return &c.PublicURL })},
	{"smtp-url", "TALLY_SMTP_URL", "", "mail server for invitations and password resets: smtp://user:pass@host:587 or smtps://user:pass@host:465 (empty: no mail)", str(func(c *Config) *string { return &c.SMTPURL })},
	{"mail-from", "TALLY_MAIL_FROM", "tally@localhost", "sender address of the mails", str(func(c *Config) *string { return &c.MailFrom })},
	{"shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT", "25s", "how long a stop waits for in-flight requests and the ingest drain", dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
}

// Parse reads the environment, then the flags (flags win), validates and
// fills derived defaults. It returns the remaining arguments.
func Parse(name string, args []string, env []string) (Config, []string, error) {
	var c Config
	envMap := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder)) // errors are returned, usage is printed by the caller
	flagVals := map[string]*string{}
	for _, s := range settings {
		flagVals[s.flag] = fs.String(s.flag, "", s.usage+" (env "+s.env+", default "+quoteEmpty(s.def)+")")
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range settings {
		v := s.def
		if ev, ok := envMap[s.env]; ok && ev != "" {
			v = ev
		}
		if set[s.flag] {
			v = *flagVals[s.flag]
		}
		if err := s.set(&c, v); err != nil {
			return c, nil, fmt.Errorf("%s (--%s): %w", s.env, s.flag, err)
		}
	}
	if c.GeoIPDir == "" {
		c.GeoIPDir = filepath.Join(c.DataDir, "geoip")
	}
	return c, fs.Args(), c.validate()
}

// Usage describes every setting, for --help.
func Usage() string {
	var b strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&b, "  --%-18s %-24s %s (default %s)\n", s.flag, s.env, s.usage, quoteEmpty(s.def))
	}
	return b.String()
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func (c Config) validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("TALLY_LISTEN must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("TALLY_DATA_DIR must not be empty"))
	}
	if c.Timescale != "auto" && c.Timescale != "off" {
		errs = append(errs, fmt.Errorf("TALLY_TIMESCALE must be auto or off, not %q", c.Timescale))
	}
	if c.IngestQueue < 1 || c.IngestBatch < 1 || c.IngestWriters < 1 || c.IngestMaxWait < 0 || c.IngestProfileMaxWait < 0 || c.IngestRateLimit < 0 {
		errs = append(errs, errors.New("ingest queue, batch and writers must be positive"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("TALLY_PUBLIC_URL must be an http(s) URL like https://stats.example.com, not %q", c.PublicURL))
		}
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			errs = append(errs, errors.New("TALLY_SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465"))
		}
	}
	if c.DatabaseURL != "" {
		if _, err := url.Parse(c.DatabaseURL); err != nil && !strings.Contains(c.DatabaseURL, "=") {
			errs = append(errs, errors.New("DATABASE_URL is not a valid URL or key=value string"))
		}
	}
	return errors.Join(errs...)
}

// RedactURL hides the password of a PostgreSQL URL or key=value string, for logs.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
		return u.String()
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if strings.HasPrefix(f, "password=") {
			fields[i] = "password=REDACTED"
		}
	}
	return strings.Join(fields, " ")
}
