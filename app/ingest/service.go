// Package ingest receives events over OpenPanel's wire protocol
// (../shared/docs/protocol.md): it authenticates the client, validates and
// enriches each request, and hands events to the group-commit Writer.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/httprate"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"tally/app/enrich"
	"tally/app/errs"
	"tally/app/projects"
	"tally/jobs"
)

// SessionIdle is how long without events ends a session.
const SessionIdle = 30 * time.Minute

// Service is the ingest pipeline up to the writer.
type Service struct {
	pool    *pgxpool.Pool
	jobs    *river.Client[pgx.Tx]
	writer  *Writer
	clients *clientCache
	salts   *salts
	ua      *enrich.UAParser
	geo     *enrich.GeoDB
	proxies enrich.TrustedProxies
	limiter *httprate.RateLimiter // per client IP, browser requests; nil: none
	log     *slog.Logger
	Now     func() time.Time // injectable clock
}

// Options wire a Service.
type Options struct {
	Pool           *pgxpool.Pool
	Writer         *Writer
	Jobs           *river.Client[pgx.Tx] // enqueues merge rewrites
	Projects       *projects.Store
	Geo            *enrich.GeoDB // may be nil: no geo
	TrustedProxies enrich.TrustedProxies
	RateLimit      int // requests per second per client IP without a secret; 0: none
	Logger         *slog.Logger
	Now            func() time.Time
}

func NewService(o Options) *Service {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{
		pool: o.Pool, jobs: o.Jobs, writer: o.Writer, clients: newClientCache(o.Projects, now), salts: newSalts(o.Pool),
		ua: enrich.NewUAParser(50_000), geo: o.Geo, proxies: o.TrustedProxies, log: o.Logger, Now: now,
	}
	if o.RateLimit > 0 {
		// Only Retry-After, on a 429: the protocol has no rate-limit headers,
		// and three of them on every answer cost CPU and bytes per event.
		s.limiter = httprate.NewRateLimiter(o.RateLimit, time.Second,
			httprate.WithResponseHeaders(httprate.ResponseHeaders{RetryAfter: "Retry-After"}))
	}
	return s
}

// ForgetProject makes this process's ingest follow a change to a project
// (a revoked client, new domains or traffic filters, a deleted project) at
// once instead of after the client cache's TTL. Other instances serving
// the same database still follow within that TTL (30 seconds).
func (s *Service) ForgetProject(projectID string) { s.clients.forgetProject(projectID) }

// Request is what the pipeline needs of an HTTP request.
type Request struct {
	Header     http.Header
	RemoteAddr string
	Body       []byte // raw, for the duplicate key
}

// Answer is the 200 body every /track type returns.
type Answer struct {
	DeviceID  string `json:"deviceId"`
	SessionID string `json:"sessionId"`
}

// BotError is returned for a known bot: answered 202, never stored.
type BotError struct{ Bot enrich.Bot }

func (e *BotError) Error() string { return "bot: " + e.Bot.Name }

// visitor is the enriched context of one request.
type visitor struct {
	caller   Caller
	ip       netip.Addr
	ua       string
	device   enrich.Device
	now      time.Time
	deviceID string
	prevID   string // under yesterday's salt, only right after the rotation
	sdkName  string
	sdkVer   string
	origin   string // the Origin header: the page's site when __path is absent
}

func (s *Service) visit(ctx context.Context, req Request, caller Caller, m Magic) (visitor, error) {
	v := visitor{caller: caller, ua: req.Header.Get("User-Agent"), now: s.Now().UTC(),
		sdkName: clip(req.Header.Get("openpanel-sdk-name"), 64), sdkVer: clip(req.Header.Get("openpanel-sdk-version"), 64),
		origin: req.Header.Get("Origin")}
	peer := enrich.ClientIP(nil, req.RemoteAddr, false)
	trust := caller.WithSecret || s.proxies.Contains(peer)
	v.ip = enrich.ClientIP(req.Header, req.RemoteAddr, trust)
	if m.IP != "" && caller.WithSecret {
		if ip, err := netip.ParseAddr(strings.TrimSpace(m.IP)); err == nil {
			v.ip = ip.Unmap()
		}
	}
	v.device = s.ua.Parse(v.ua)
	if v.device.Bot != nil {
		return v, &BotError{Bot: *v.device.Bot}
	}
	if m.DeviceID != "" {
		v.deviceID = m.DeviceID
		return v, nil
	}
	today, yesterday, err := s.salts.forDay(ctx, v.now)
	if err != nil {
		return v, errs.Wrap(errs.Unavailable, err, "the database is unavailable, retry shortly")
	}
	ipText := v.ip.String()
	pid := caller.Client.ProjectID
	v.deviceID = deviceID(today, v.ua, ipText, pid)
	if v.now.Sub(v.now.Truncate(24*time.Hour)) < SessionIdle+time.Minute && yesterday != nil {
		v.prevID = deviceID(yesterday, v.ua, ipText, pid)
	}
	return v, nil
}

// Track stores one event and answers with the device and session ids.
func (s *Service) Track(ctx context.Context, req Request, caller Caller, t *TrackPayload) (Answer, error) {
	v, err := s.visit(ctx, req, caller, t.Magic)
	if err != nil {
		return Answer{}, err
	}
	if id := t.Magic.Identify; id != nil && t.ProfileID == "" {
		t.ProfileID = id.ProfileID
	}
	row, err := s.buildRow(v, t)
	if err != nil {
		return Answer{}, err
	}
	// Filtered traffic is answered like stored traffic (the SDK carries on)
	// and never written.
	if caller.filters.ignoresVisitor(v.ip, t.ProfileID) || caller.filters.ignoresEvent(&row, t.Properties) {
		return Answer{DeviceID: v.deviceID}, nil
	}
	if id := t.Magic.Identify; id != nil {
		if err := s.identify(ctx, caller, v, id); err != nil {
			return Answer{}, err
		}
	}
	row.DedupKey = dedupKey(caller.Client.ProjectID, v.ip, v.ua, req.Body)
	res, err := s.writer.Submit(ctx, row)
	if err != nil {
		return Answer{}, err
	}
	return Answer{DeviceID: res.DeviceID, SessionID: res.SessionID}, nil
}

func (s *Service) buildRow(v visitor, t *TrackPayload) (Row, error) {
	pid := v.caller.Client.ProjectID
	created, err := eventTime(t.Magic.Timestamp, v.now)
	if err != nil {
		return Row{}, err
	}
	id, _ := uuid.NewV7()
	r := Row{
		ID: id, ProjectID: pid, Name: strings.TrimSpace(t.Name), DeviceID: v.deviceID, PrevDeviceID: v.prevID,
		ProfileID: t.ProfileID, CreatedAt: created, Groups: t.Groups,
		SDKName: v.sdkName, SDKVersion: v.sdkVer,
	}
	if t.Magic.Path != "" {
		p := enrich.ParsePage(t.Magic.Path)
		r.Origin, r.Path, r.Query, r.Hash = p.Origin, p.Path, p.Query, p.Hash
		r.UTMSource, r.UTMMedium, r.UTMCampaign, r.UTMTerm, r.UTMContent = p.UTMSource, p.UTMMedium, p.UTMCampaign, p.UTMTerm, p.UTMContent
	}
	if t.Magic.Referrer != "" {
		host, ref := enrich.ClassifyReferrer(t.Magic.Referrer)
		own := r.Origin
		if own == "" {
			own = v.origin
		}
		if host != "" && !sameSite(host, own) {
			r.Referrer = clip(t.Magic.Referrer, 2048)
			r.ReferrerName, r.ReferrerType = ref.Name, ref.Type
			if r.ReferrerName == "" {
				r.ReferrerName = host // an unknown site is named by its host
			}
		}
	}
	d := v.device
	r.OS, r.OSVersion, r.Browser, r.BrowserVersion = or(t.Magic.OS, d.OS), or(t.Magic.OSVersion, d.OSVersion), or(t.Magic.Browser, d.Browser), or(t.Magic.BrowserVersion, d.BrowserVersion)
	r.Device, r.Brand, r.Model = or(t.Magic.Device, d.Device), or(t.Magic.Brand, d.Brand), or(t.Magic.Model, d.Model)
	// Only a browser (or an app reporting its device) opens sessions;
	// server-side events and bots never do.
	r.OpensSession = r.Device != "server" && r.Device != "bot" && r.Device != ""
	if loc := s.geo.Lookup(v.ip); loc.Country != "" {
		r.Country, r.Region, r.City, r.Latitude, r.Longitude = loc.Country, loc.Region, loc.City, loc.Latitude, loc.Longitude
	}
	if t.Magic.Revenue != nil {
		if r.Name != "revenue" {
			return Row{}, invalid("__revenue is only accepted on events named revenue")
		}
		if !v.caller.WithSecret && !v.caller.Client.AllowBrowserRevenue {
			return Row{}, invalid("revenue from the browser is disabled for this project: send it with a client secret or enable browser revenue")
		}
		r.Revenue = t.Magic.Revenue
	}
	props, err := json.Marshal(t.Properties)
	if err != nil {
		return Row{}, invalid("properties cannot be encoded")
	}
	r.Properties = props
	return r, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sameSite reports whether a referrer host (lowercased, without port and
// "www.") is the page's own site; ports do not make another site.
func sameSite(refHost, origin string) bool {
	host := projects.NormalizeDomain(origin)
	if u, err := url.Parse("//" + host); err == nil {
		host = u.Hostname()
	}
	return host != "" && host == strings.TrimPrefix(refHost, "www.")
}

// dedupKey identifies a request: the same client, visitor and body twice
// within the window is an SDK retry.
func dedupKey(projectID string, ip netip.Addr, ua string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(projectID))
	h.Write([]byte{0})
	h.Write([]byte(ip.String()))
	h.Write([]byte{0})
	h.Write([]byte(ua))
	h.Write([]byte{0})
	h.Write(body)
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:20])
}

// Identify creates or updates a profile.
func (s *Service) Identify(ctx context.Context, req Request, caller Caller, p *IdentifyPayload) (Answer, error) {
	v, err := s.visit(ctx, req, caller, p.Magic)
	if err != nil {
		return Answer{}, err
	}
	if caller.filters.ignoresVisitor(v.ip, p.ProfileID) {
		return Answer{DeviceID: v.deviceID}, nil
	}
	if err := s.identify(ctx, caller, v, p); err != nil {
		return Answer{}, err
	}
	return s.answer(ctx, caller, v)
}

// identify validates and stores an identify, linking the visitor's device.
func (s *Service) identify(ctx context.Context, caller Caller, v visitor, p *IdentifyPayload) error {
	if p.Email != "" && !validEmail(p.Email) {
		return invalid("email %q is not a valid address", clip(p.Email, 80))
	}
	if p.Avatar != "" && !validURL(p.Avatar) {
		return invalid("avatar must be an http(s) URL")
	}
	props, err := json.Marshal(p.Properties)
	if err != nil {
		return invalid("properties cannot be encoded")
	}
	pid := caller.Client.ProjectID
	// A browser that identifies brings its anonymous history along: its
	// device joins the profile (server-side identifies have no device of the
	// person's to link).
	linkDevice := v.device.Device != "server" && v.device.Device != ""
	if !linkDevice { // group-committed with other profile operations
		now := v.now.Truncate(time.Microsecond) // what PostgreSQL keeps
		return s.writer.ApplyProfileOp(ctx, ProfileOp{Kind: OpIdentify, ProjectID: pid, ProfileID: p.ProfileID,
			FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Avatar: p.Avatar, Properties: props, SeenAt: &now})
	}
	const identifySQL = "SELECT op.identify_v1($1, $2, $3, $4, $5, $6, $7, $8)"
	args := []any{pid, p.ProfileID, nullable(p.FirstName), nullable(p.LastName), nullable(p.Email), nullable(p.Avatar), props, v.now}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, identifySQL, args...); err != nil {
			return err
		}
		var mergeID *int64
		if err := tx.QueryRow(ctx, "SELECT op.link_device_v1($1, $2, $3)", pid, v.deviceID, p.ProfileID).Scan(&mergeID); err != nil {
			return err
		}
		return s.enqueueMerge(ctx, tx, mergeID)
	})
	if err != nil {
		return dbErr(err)
	}
	return nil
}

// inTx runs fn in a transaction, retrying a deadlock (merges and ingest lock
// profiles in one order, but a profile that does not exist yet cannot be
// locked ahead).
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		var pgErr *pgconn.PgError
		if err != nil && attempt < 3 && errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			continue
		}
		return err
	}
}

// enqueueMerge asks the merge job, in the merge's own transaction, to
// rewrite history.
func (s *Service) enqueueMerge(ctx context.Context, tx pgx.Tx, mergeID *int64) error {
	if mergeID == nil {
		return nil
	}
	_, err := s.jobs.InsertTx(ctx, tx, jobs.MergeArgs{MergeID: *mergeID}, nil)
	return err
}

// Counter increments (sign +1) or decrements (sign -1) a profile property.
func (s *Service) Counter(ctx context.Context, req Request, caller Caller, c *CounterPayload, sign float64) (Answer, error) {
	v, err := s.visit(ctx, req, caller, Magic{})
	if err != nil {
		return Answer{}, err
	}
	if caller.filters.ignoresVisitor(v.ip, c.ProfileID) {
		return Answer{DeviceID: v.deviceID}, nil
	}
	// Group-committed with other profile operations (op.profile_ops_v1
	// applies it as op.profile_increment_v1 would).
	err = s.writer.ApplyProfileOp(ctx, ProfileOp{Kind: OpIncrement, ProjectID: caller.Client.ProjectID, ProfileID: c.ProfileID,
		Property: c.Property, Delta: sign * c.Value})
	if err != nil {
		return Answer{}, err
	}
	return s.answer(ctx, caller, v)
}

// Alias merges another id (an old user id, a device) into a profile.
func (s *Service) Alias(ctx context.Context, req Request, caller Caller, a *AliasPayload) (Answer, error) {
	v, err := s.visit(ctx, req, caller, Magic{})
	if err != nil {
		return Answer{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var mergeID *int64
		if err := tx.QueryRow(ctx, "SELECT op.merge_profiles_v1($1, $2, $3)", caller.Client.ProjectID, a.Alias, a.ProfileID).Scan(&mergeID); err != nil {
			return err
		}
		return s.enqueueMerge(ctx, tx, mergeID)
	})
	if err != nil {
		return Answer{}, dbErr(err)
	}
	return s.answer(ctx, caller, v)
}

// Group creates or updates a group.
func (s *Service) Group(ctx context.Context, req Request, caller Caller, g *GroupPayload) (Answer, error) {
	v, err := s.visit(ctx, req, caller, Magic{})
	if err != nil {
		return Answer{}, err
	}
	props, _ := json.Marshal(g.Properties)
	if _, err := s.pool.Exec(ctx, "SELECT op.group_upsert_v1($1, $2, $3, $4, $5)", caller.Client.ProjectID, g.ID, g.Type, g.Name, props); err != nil {
		return Answer{}, dbErr(err)
	}
	return s.answer(ctx, caller, v)
}

// AssignGroup adds groups to a profile (the device's, without profileId).
func (s *Service) AssignGroup(ctx context.Context, req Request, caller Caller, a *AssignGroupPayload) (Answer, error) {
	v, err := s.visit(ctx, req, caller, Magic{})
	if err != nil {
		return Answer{}, err
	}
	profile := a.ProfileID
	if profile == "" {
		profile = v.deviceID
	}
	if _, err := s.pool.Exec(ctx, "SELECT op.assign_groups_v1($1, $2, $3)", caller.Client.ProjectID, profile, a.GroupIDs); err != nil {
		return Answer{}, dbErr(err)
	}
	return s.answer(ctx, caller, v)
}

// DeviceID answers GET /track/device-id.
func (s *Service) DeviceID(ctx context.Context, req Request, caller Caller) (Answer, error) {
	v, err := s.visit(ctx, req, caller, Magic{})
	if err != nil {
		return Answer{}, err
	}
	return s.answer(ctx, caller, v)
}

// answer returns the device id and its live session, if any.
func (s *Service) answer(ctx context.Context, caller Caller, v visitor) (Answer, error) {
	if v.device.Device == "server" || v.device.Device == "" {
		return Answer{DeviceID: v.deviceID}, nil // server-side callers have no sessions
	}
	var sid *uuid.UUID
	if err := s.pool.QueryRow(ctx, "SELECT op.current_session_v1($1, $2)", caller.Client.ProjectID, v.deviceID).Scan(&sid); err != nil {
		return Answer{}, dbErr(err)
	}
	a := Answer{DeviceID: v.deviceID}
	if sid != nil {
		a.SessionID = sid.String()
	}
	return a, nil
}

// dbErr maps the SQL functions' errors to the error vocabulary.
func dbErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "TLNTF":
			return errs.E(errs.NotFound, "profile not found")
		case "TLNAN":
			return errs.E(errs.Invalid, "%s", pgErr.Message)
		}
		if strings.HasPrefix(pgErr.Code, "22") { // a value the database cannot store
			return errs.Wrap(errs.Invalid, err, "a value cannot be stored: "+pgErr.Message)
		}
		return errs.Wrap(errs.Internal, err, "database error")
	}
	return errs.Wrap(errs.Unavailable, err, "the database is unavailable, retry shortly")
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-3 && strings.Contains(s[at:], ".") && !strings.ContainsAny(s, " \t\r\n<>()[]\\,;:\"") && len(s) <= 254
}

func validURL(s string) bool {
	return (strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) && len(s) > len("https://") && !strings.ContainsAny(s, " \t\r\n<>\"")
}
