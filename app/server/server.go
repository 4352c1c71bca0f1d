// Package server assembles the HTTP surface: every route of the program is
// in the one table below, grouped by area.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"tally/app/ingest"
	"tally/app/web"
	"tally/static"
)

// Deps are the services the routes call.
type Deps struct {
	Ingest *ingest.Service
	Web    *web.Handler
	Log    *slog.Logger
}

// Routes returns the whole HTTP surface.
func Routes(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)

	// Health: liveness (the process answers) and readiness (it can ingest).
	r.Get("/healthz/live", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	r.Get("/healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Ingest.Ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})

	// Ingestion (OpenPanel's protocol), at / and under /api as self-hosted
	// OpenPanel serves it, so either apiUrl works.
	r.Group(d.Ingest.Routes)
	r.Route("/api", d.Ingest.Routes)

	// Static files: our CSS and JS and the vendored libraries, under
	// content-hashed names cached for a year.
	r.With(middleware.Compress(5, "text/css", "application/javascript", "text/javascript")).Handle("/static/*", static.Handler())

	// The tracker the snippet loads on tracked sites: public, any origin.
	r.With(middleware.Compress(5, "application/javascript")).Get("/op1.js", static.Tracker().ServeHTTP)

	// Browsers ask for /favicon.ico whatever the page says; the pages link
	// the SVG icon above.
	r.Get("/favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, static.URL("favicon.svg"), http.StatusMovedPermanently)
	})

	// The dashboard: its own table in app/web/routes.go (public pages,
	// then logged-in pages by project and organization).
	d.Web.Routes(r)
	r.NotFound(d.Web.NotFoundHandler())
	return r
}

// Server is the HTTP server with the timeouts a public endpoint needs.
func New(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Shutdown stops accepting connections and waits for in-flight requests.
func Shutdown(ctx context.Context, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}
