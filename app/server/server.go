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
	"tally/static"
	"tally/views"
)

// Deps are the services the routes call.
type Deps struct {
	Ingest *ingest.Service
	Home   views.HomeData
	Log    *slog.Logger
}

func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		h.ServeHTTP(w, r)
	})
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

	// Static files: vendored libraries, cached long (their names change
	// with their versions).
	r.Handle("/static/*", http.StripPrefix("/static/", cacheForever(http.FileServerFS(static.FS))))

	// The dashboard comes with the accounts issue; until then the start page
	// says what is running and how to send events.
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		d.Home.APIURL = "http://" + r.Host
		_ = views.Home(d.Home).Render(r.Context(), w)
	})
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
