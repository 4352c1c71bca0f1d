package ingest

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"tally/app/errs"
	"tally/app/projects"
)

// clientCache keeps clients and verified secrets in memory: ingest must not
// read the clients table, let alone run argon2id, on every event.
type clientCache struct {
	store *projects.Store
	ttl   time.Duration
	now   func() time.Time

	mu       sync.Mutex
	clients  map[uuid.UUID]cachedClient
	secrets  map[secretKey]cachedSecret
	failures map[uuid.UUID]failureWindow
	// forgets counts forgetProject calls: a client read from the database
	// before one is not cached after it (it may predate the change).
	forgets uint64
}

// failureWindow counts a client's wrong secrets in the current minute:
// each distinct wrong secret costs an argon2id, so a flood of random ones
// is refused before it costs anything.
type failureWindow struct {
	start time.Time
	count int
}

const maxSecretFailuresPerMinute = 20

type cachedClient struct {
	c       projects.Client
	filters *filterSet
	err     error // unknown clients are cached too, briefly
	expires time.Time
}

type secretKey struct {
	client uuid.UUID
	sum    [32]byte
}

type cachedSecret struct {
	ok      bool
	expires time.Time
}

const maxCachedEntries = 100_000

func newClientCache(store *projects.Store, now func() time.Time) *clientCache {
	return &clientCache{store: store, ttl: 30 * time.Second, now: now,
		clients: map[uuid.UUID]cachedClient{}, secrets: map[secretKey]cachedSecret{},
		failures: map[uuid.UUID]failureWindow{}}
}

// client returns a client and its compiled traffic filters. Changes to a
// project (domains, filters) apply within the cache's TTL.
func (cc *clientCache) client(ctx context.Context, id uuid.UUID) (projects.Client, *filterSet, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.clients[id]
	forgets := cc.forgets
	cc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, e.filters, e.err
	}
	c, err := cc.store.Client(ctx, id)
	if err != nil && errs.KindOf(err) != errs.NotFound {
		return c, nil, errs.Wrap(errs.Unavailable, err, "could not check the client, retry shortly")
	}
	filters := compileFilters(c.Filters)
	cc.mu.Lock()
	if len(cc.clients) >= maxCachedEntries {
		clear(cc.clients)
	}
	if cc.forgets == forgets {
		cc.clients[id] = cachedClient{c: c, filters: filters, err: err, expires: now.Add(cc.ttl)}
	}
	cc.mu.Unlock()
	return c, filters, err
}

// forgetProject drops the cached clients of a project, so the next request
// reads its clients, domains and filters afresh.
func (cc *clientCache) forgetProject(projectID string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.forgets++
	for id, e := range cc.clients {
		if e.c.ProjectID == projectID {
			delete(cc.clients, id)
		}
	}
}

// checkSecret verifies a secret against the client's hash, remembering the
// answer (right or wrong) for a while: a server-side SDK sends its secret
// with every event, and a wrong secret hammered at us must not cost an
// argon2id each time.
func (cc *clientCache) checkSecret(c projects.Client, secret string) (bool, error) {
	if c.SecretHash == "" {
		return false, nil
	}
	key := secretKey{client: c.ID, sum: sha256.Sum256([]byte(secret + "\x00" + c.SecretHash))}
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.secrets[key]
	f := cc.failures[c.ID]
	cc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.ok, nil
	}
	if now.Sub(f.start) < time.Minute && f.count >= maxSecretFailuresPerMinute {
		return false, errs.E(errs.RateLimited, "too many wrong client secrets, retry in a minute")
	}
	valid := projects.CheckSecret(secret, c.SecretHash)
	cc.mu.Lock()
	if len(cc.secrets) >= maxCachedEntries {
		clear(cc.secrets)
		clear(cc.failures)
	}
	// A right secret is remembered long: a flood of wrong ones must not
	// lock out the backend that knows it. (Revocation is checked on the
	// client, whose cache is short.)
	ttl := 5 * time.Minute
	if valid {
		ttl = time.Hour
	}
	cc.secrets[key] = cachedSecret{ok: valid, expires: now.Add(ttl)}
	if !valid {
		f = cc.failures[c.ID]
		if now.Sub(f.start) >= time.Minute {
			f = failureWindow{start: now}
		}
		f.count++
		cc.failures[c.ID] = f
	}
	cc.mu.Unlock()
	return valid, nil
}

// Caller is an authenticated request's client.
type Caller struct {
	Client     projects.Client
	filters    *filterSet
	WithSecret bool // a server-side caller: may set __ip and revenue, its IP headers are believed
}

// authenticate checks the client id, then the secret (server-side callers)
// or the Origin against the project's allow-list (browsers). Failures are
// errs.Unauthorized: the SDK stops retrying on 401.
func (s *Service) authenticate(ctx context.Context, h http.Header, bodyID, bodySecret string) (Caller, error) {
	rawID := firstHeader(h, "openpanel-client-id", "mixan-client-id")
	if rawID == "" {
		rawID = bodyID
	}
	if rawID == "" {
		return Caller{}, errs.E(errs.Unauthorized, "missing client id (header openpanel-client-id)")
	}
	id, err := uuid.Parse(strings.TrimSpace(rawID))
	if err != nil {
		return Caller{}, errs.E(errs.Unauthorized, "invalid client id")
	}
	c, filters, err := s.clients.client(ctx, id)
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return Caller{}, errs.E(errs.Unauthorized, "unknown client id")
		}
		return Caller{}, err
	}
	if c.Revoked {
		return Caller{}, errs.E(errs.Unauthorized, "client has been revoked")
	}
	if c.Type == projects.ClientRead {
		return Caller{}, errs.E(errs.Unauthorized, "a read client cannot send events")
	}
	if c.ProjectID == "" {
		return Caller{}, errs.E(errs.Unauthorized, "client has no project")
	}
	secret := firstHeader(h, "openpanel-client-secret", "mixan-client-secret")
	if secret == "" {
		secret = bodySecret
	}
	if secret != "" {
		ok, err := s.clients.checkSecret(c, secret)
		if err != nil {
			return Caller{}, err
		}
		if !ok {
			return Caller{}, errs.E(errs.Unauthorized, "wrong client secret")
		}
		return Caller{Client: c, filters: filters, WithSecret: true}, nil
	}
	if origin := h.Get("Origin"); origin != "" {
		if !projects.OriginAllowed(origin, c.Domains) {
			return Caller{}, errs.E(errs.Unauthorized, "origin not allowed for this client")
		}
		return Caller{Client: c, filters: filters}, nil
	}
	for _, d := range c.Domains {
		if d == "*" {
			return Caller{Client: c, filters: filters}, nil
		}
	}
	return Caller{}, errs.E(errs.Unauthorized, "a client secret (server-side) or an allowed Origin (browser) is required")
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
