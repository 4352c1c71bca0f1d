package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"tally/app/enrich"
	"tally/app/errs"
)

// requestTimeout bounds how long a request waits for its commit: a slow or
// dead database turns into a 503 the SDK retries, never a hang.
const requestTimeout = 10 * time.Second

// Routes mounts the ingestion API on r (the server mounts it at / and /api).
func (s *Service) Routes(r chi.Router) {
	r.Options("/track", preflight)
	r.Options("/track/device-id", preflight)
	r.Options("/event", preflight)
	r.Options("/profile", preflight)
	r.Options("/profile/increment", preflight)
	r.Options("/profile/decrement", preflight)

	r.Post("/track", s.handle(s.track))
	r.Get("/track/device-id", s.handle(s.deviceID))
	r.Post("/event", s.handle(s.legacyEvent))
	r.Post("/profile", s.handle(s.legacyProfile))
	r.Post("/profile/increment", s.handle(s.legacyCounter(1)))
	r.Post("/profile/decrement", s.handle(s.legacyCounter(-1)))
}

// preflight answers CORS preflights: any origin (the allow-list is checked
// on the real request), no cookies, cached for a week.
func preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && len(req) < 2048 {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "604800")
	h.Add("Vary", "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

// reply is what an ingest handler answers.
type reply struct {
	status int
	body   any
}

type ingestFunc func(ctx context.Context, r *http.Request, body []byte) (reply, error)

var anyOrigin = []string{"*"}

// handle wraps an ingest handler: CORS, body limit, timeout, and the one
// mapping of errors to the protocol's responses.
func (s *Service) handle(fn ingestFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Access-Control-Allow-Origin"] = anyOrigin
		if s.limited(w, r) {
			s.writeError(w, r, errs.E(errs.RateLimited, "too many requests from this address, slow down"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		var body []byte
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					s.writeError(w, r, errs.E(errs.TooLarge, "body is larger than 1 MiB"))
				} else {
					s.writeError(w, r, errs.E(errs.Invalid, "could not read the body"))
				}
				return
			}
			body = b
		}
		rep, err := fn(ctx, r, body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, rep.status, rep.body)
	}
}

// limited applies the per-IP limit to browser traffic. Callers with a client
// secret (a backend relaying many visitors from one address) are not
// limited here; wrong secrets are limited per client instead (auth.go).
func (s *Service) limited(w http.ResponseWriter, r *http.Request) bool {
	if s.limiter == nil || firstHeader(r.Header, "openpanel-client-secret", "mixan-client-secret") != "" {
		return false
	}
	peer := enrich.ClientIP(nil, r.RemoteAddr, false)
	ip := enrich.ClientIP(r.Header, r.RemoteAddr, s.proxies.Contains(peer))
	return s.limiter.OnLimit(w, r, ip.String())
}

var jsonContentType = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	if a, ok := v.(Answer); ok { // every event's answer: no reflection
		_, _ = w.Write(a.appendJSON(make([]byte, 0, 96)))
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// appendJSON appends the answer as encoding/json would write it (with the
// encoder's trailing newline).
func (a Answer) appendJSON(b []byte) []byte {
	b = append(b, `{"deviceId":`...)
	b = appendString(b, a.DeviceID)
	b = append(b, `,"sessionId":`...)
	b = appendString(b, a.SessionID)
	return append(b, "}\n"...)
}

// writeError answers in the protocol's shapes: 401 plain text (the SDK stops
// retrying), 202 with the bot's name, JSON for everything else.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var bot *BotError
	if errors.As(err, &bot) {
		writeJSON(w, http.StatusAccepted, map[string]any{"bot": map[string]string{"name": bot.Bot.Name, "type": bot.Bot.Type}})
		return
	}
	kind := errs.KindOf(err)
	status := errs.Status(kind)
	msg := errs.Message(err)
	switch kind {
	case errs.Internal:
		s.log.Error("ingest failed", "path", r.URL.Path, "err", err)
	case errs.Unavailable:
		s.log.Warn("ingest unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	}
	if kind == errs.Unauthorized {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, msg)
		return
	}
	writeJSON(w, status, map[string]any{"status": status, "error": http.StatusText(status), "message": msg})
}

func (s *Service) request(r *http.Request, body []byte) Request {
	return Request{Header: r.Header, RemoteAddr: r.RemoteAddr, Body: body}
}

func (s *Service) track(ctx context.Context, r *http.Request, body []byte) (reply, error) {
	b, err := DecodeTrack(body)
	if err != nil {
		return reply{}, err
	}
	caller, err := s.authenticate(ctx, r.Header, b.ClientID, b.ClientSecret)
	if err != nil {
		return reply{}, err
	}
	req := s.request(r, body)
	var a Answer
	switch b.Type {
	case TypeTrack:
		a, err = s.Track(ctx, req, caller, b.Track)
	case TypeIdentify:
		a, err = s.Identify(ctx, req, caller, b.Identify)
	case TypeIncrement:
		a, err = s.Counter(ctx, req, caller, b.Counter, 1)
	case TypeDecrement:
		a, err = s.Counter(ctx, req, caller, b.Counter, -1)
	case TypeAlias:
		a, err = s.Alias(ctx, req, caller, b.Alias)
	case TypeGroup:
		a, err = s.Group(ctx, req, caller, b.Group)
	case TypeAssignGroup:
		a, err = s.AssignGroup(ctx, req, caller, b.AssignGroup)
	}
	if err != nil {
		return reply{}, err
	}
	return reply{http.StatusOK, a}, nil
}

func (s *Service) deviceID(ctx context.Context, r *http.Request, _ []byte) (reply, error) {
	caller, err := s.authenticate(ctx, r.Header, "", "")
	if err != nil {
		return reply{}, err
	}
	a, err := s.DeviceID(ctx, s.request(r, nil), caller)
	if err != nil {
		return reply{}, err
	}
	return reply{http.StatusOK, a}, nil
}

func (s *Service) legacyEvent(ctx context.Context, r *http.Request, body []byte) (reply, error) {
	caller, err := s.authenticate(ctx, r.Header, "", "")
	if err != nil {
		return reply{}, err
	}
	t, err := DecodeLegacyEvent(body)
	if err != nil {
		return reply{}, err
	}
	a, err := s.Track(ctx, s.request(r, body), caller, t)
	if err != nil {
		return reply{}, err
	}
	return reply{http.StatusAccepted, a}, nil
}

func (s *Service) legacyProfile(ctx context.Context, r *http.Request, body []byte) (reply, error) {
	caller, err := s.authenticate(ctx, r.Header, "", "")
	if err != nil {
		return reply{}, err
	}
	p, err := DecodeLegacyProfile(body)
	if err != nil {
		return reply{}, err
	}
	a, err := s.Identify(ctx, s.request(r, body), caller, p)
	if err != nil {
		return reply{}, err
	}
	return reply{http.StatusAccepted, a}, nil
}

func (s *Service) legacyCounter(sign float64) ingestFunc {
	return func(ctx context.Context, r *http.Request, body []byte) (reply, error) {
		caller, err := s.authenticate(ctx, r.Header, "", "")
		if err != nil {
			return reply{}, err
		}
		c, err := DecodeLegacyCounter(body)
		if err != nil {
			return reply{}, err
		}
		a, err := s.Counter(ctx, s.request(r, body), caller, c, sign)
		if err != nil {
			return reply{}, err
		}
		return reply{http.StatusAccepted, a}, nil
	}
}

// Ready reports whether ingest can accept events (for /healthz/ready).
func (s *Service) Ready(ctx context.Context) error {
	if !s.writer.Healthy() {
		return errors.New("database unavailable")
	}
	if q := s.writer.QueueLen(); q > cap(s.writer.queue)*9/10 {
		return errors.New("ingest queue nearly full")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return s.pool.Ping(ctx)
}
