// Package web is the dashboard's HTTP layer: login sessions, the
// middleware that decides who may see what, and thin handlers that load,
// validate, store and render (templ views in views/). Domain logic lives in
// accounts, projects and the other domain packages.
package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/accounts"
	"tally/app/enrich"
	"tally/app/mail"
	"tally/app/projects"
	"tally/app/realtime"
)

// Options are the services the dashboard uses.
type Options struct {
	Pool           *pgxpool.Pool
	Accounts       *accounts.Store
	Projects       *projects.Store
	TrustedProxies enrich.TrustedProxies
	PublicURL      string // "" derives links from each request
	Log            *slog.Logger
	Mail           *mail.Mailer // invitations and password resets; may be unconfigured
	// Ingest, if set, is told when a project's clients, domains or traffic
	// filters change, so this process's ingest applies it at once.
	Ingest interface{ ForgetProject(projectID string) }
	// Hub streams live updates: visitors now, a project's first event.
	Hub *realtime.Hub
}

// Handler serves the dashboard.
type Handler struct {
	Options
	sessions     *scs.SessionManager
	sessionPool  *pgxpool.Pool
	sessionStore *pgxstore.PostgresStore
	logins       *limiter
}

// Session lifetimes: a login lasts until the browser closes (or 12 hours
// idle); "remember me" keeps it for 30 days.
const (
	sessionLifetime = 30 * 24 * time.Hour
	sessionIdle     = 12 * time.Hour
)

// New builds the dashboard. Login sessions are stored by scs/pgxstore in
// auth.sessions through a small pool whose search_path is auth (the store
// names its table "sessions", which in public is the analytics table).
func New(ctx context.Context, o Options) (*Handler, error) {
	cfg := o.Pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = "auth"
	cfg.MaxConns = 4
	cfg.MinConns = 0
	sp, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store := pgxstore.NewWithCleanupInterval(sp, 10*time.Minute)
	sm := scs.New()
	sm.Store = hashedStore{store}
	sm.Lifetime = sessionLifetime
	sm.Cookie.Name = "tally_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Persist = false // "remember me" makes it persistent
	sm.Cookie.Path = "/"
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		o.Log.Error("login session store", "err", err, "route", routeName(r))
		http.Error(w, "the session store is unavailable; try again", http.StatusServiceUnavailable)
	}
	h := &Handler{Options: o, sessions: sm, sessionPool: sp, sessionStore: store, logins: newLimiter()}
	return h, nil
}

// Close stops the session store.
func (h *Handler) Close() {
	h.sessionStore.StopCleanup()
	h.sessionPool.Close()
}

// secureCookies marks every cookie Secure when the request came over TLS,
// directly or through a trusted proxy that says so, or when the public URL
// is https. (scs has one Secure flag per manager; this decides per request.)
func (h *Handler) secureCookies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || strings.HasPrefix(h.PublicURL, "https:") ||
			(r.Header.Get("X-Forwarded-Proto") == "https" && h.fromProxy(r)) {
			w = &secureWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

type secureWriter struct {
	http.ResponseWriter
	done bool
}

func (s *secureWriter) fix() {
	if s.done {
		return
	}
	s.done = true
	cookies := s.Header()["Set-Cookie"]
	for i, c := range cookies {
		if !strings.Contains(strings.ToLower(c), "; secure") {
			cookies[i] = c + "; Secure"
		}
	}
}

func (s *secureWriter) WriteHeader(code int)        { s.fix(); s.ResponseWriter.WriteHeader(code) }
func (s *secureWriter) Write(b []byte) (int, error) { s.fix(); return s.ResponseWriter.Write(b) }
func (s *secureWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (h *Handler) fromProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && h.TrustedProxies.Contains(ap.Addr().Unmap())
}

// clientIP is the visitor's address, believing forwarding headers only from
// trusted proxies.
func (h *Handler) clientIP(r *http.Request) netip.Addr {
	return enrich.ClientIP(r.Header, r.RemoteAddr, h.fromProxy(r))
}

// securityHeaders: dashboard pages may not be framed (clickjacking of the
// one-click buttons), responses are never sniffed as another type, and
// dashboard URLs do not leak to other sites as referrers.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// hashedStore keeps login sessions under a SHA-256 of their token, like
// invitation and reset tokens: a copy of the database (a backup, a dump)
// holds no working session.
type hashedStore struct{ inner scs.Store }

func hashedToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s hashedStore) Find(token string) ([]byte, bool, error) {
	return s.inner.Find(hashedToken(token))
}
func (s hashedStore) Delete(token string) error { return s.inner.Delete(hashedToken(token)) }
func (s hashedStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.inner.Commit(hashedToken(token), b, expiry)
}
