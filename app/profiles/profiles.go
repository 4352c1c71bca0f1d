// Package profiles owns the dashboard's reads of profiles: one profile with
// its stats, its sessions and events, and the searchable profile list. The
// queries are the SQL functions of sql/profile_queries.sql; this package
// validates parameters, pages and maps rows to typed structs.
//
// A profile is found by any id that names it, an old merged id included,
// and its history includes rows that still carry merged ids while the
// merge job rewrites them.
package profiles

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
)

// Page sizes: Limit 0 means DefaultLimit; larger than MaxLimit is MaxLimit.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// MaxSearch is the longest search term accepted, in characters.
const MaxSearch = 200

// Store reads profiles.
type Store struct{ pool *pgxpool.Pool }

func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Profile is one profile with the stats of its page. Text that the profile
// does not have is "".
type Profile struct {
	ID          string // the profile's id; differs from the id asked for when that was merged into it
	IsExternal  bool   // identified by the site, not an anonymous device
	FirstName   string
	LastName    string
	Email       string
	Avatar      string
	Properties  json.RawMessage // a JSON object
	Groups      []string
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	Country     string
	Region      string
	City        string
	OS          string
	Browser     string
	Device      string
	Brand       string
	Model       string
	Stats       Stats
}

// Stats summarize a profile's whole history.
type Stats struct {
	Sessions           int64
	ScreenViews        int64
	Events             int64 // without session_start and session_end
	AvgSessionDuration time.Duration
	BounceRate         float64 // 0..1 over sessions; 0 without sessions
	Revenue            int64   // minor units
}

// Session is one of a profile's sessions.
type Session struct {
	ID              uuid.UUID
	StartedAt       time.Time
	EndedAt         *time.Time // nil while the session is open
	Duration        time.Duration
	EventCount      int
	ScreenViewCount int
	IsBounce        bool
	EntryPath       string
	ExitPath        string
	ReferrerName    string
	Country         string
	City            string
	Browser         string
	OS              string
	Device          string
	Revenue         int64 // minor units
}

// Event is one of a profile's events.
type Event struct {
	ID           uuid.UUID
	Name         string
	CreatedAt    time.Time
	SessionID    *uuid.UUID // nil for events outside sessions (server events)
	Path         string
	Origin       string
	ReferrerName string
	Country      string
	City         string
	Browser      string
	OS           string
	Device       string
	Properties   json.RawMessage // a JSON object
}

// Summary is a row of the profile list.
type Summary struct {
	ID          string
	IsExternal  bool
	FirstName   string
	LastName    string
	Email       string
	Avatar      string
	Country     string
	City        string
	OS          string
	Browser     string
	Device      string
	FirstSeenAt time.Time
	LastSeenAt  time.Time
}

// Profile returns the profile id names (an old merged id names the profile
// it was merged into). Unknown: errs.NotFound.
func (s *Store) Profile(ctx context.Context, project, id string) (Profile, error) {
	if !validText(id) {
		return Profile{}, errs.E(errs.NotFound, "profile not found")
	}
	var p Profile
	var avgMs float64
	err := s.pool.QueryRow(ctx, `
		SELECT id, is_external, coalesce(first_name, ''), coalesce(last_name, ''), coalesce(email, ''),
		       coalesce(avatar, ''), properties, groups, first_seen_at, last_seen_at,
		       coalesce(country, ''), coalesce(region, ''), coalesce(city, ''), coalesce(os, ''),
		       coalesce(browser, ''), coalesce(device, ''), coalesce(brand, ''), coalesce(model, ''),
		       sessions, screen_views, events, avg_session_duration, bounce_rate, revenue
		FROM op.profile_v1($1, $2)`, project, id).Scan(
		&p.ID, &p.IsExternal, &p.FirstName, &p.LastName, &p.Email,
		&p.Avatar, &p.Properties, &p.Groups, &p.FirstSeenAt, &p.LastSeenAt,
		&p.Country, &p.Region, &p.City, &p.OS,
		&p.Browser, &p.Device, &p.Brand, &p.Model,
		&p.Stats.Sessions, &p.Stats.ScreenViews, &p.Stats.Events, &avgMs, &p.Stats.BounceRate, &p.Stats.Revenue)
	if errors.Is(err, pgx.ErrNoRows) {
		return Profile{}, errs.E(errs.NotFound, "profile not found")
	}
	if err != nil {
		return Profile{}, fmt.Errorf("load profile: %w", err)
	}
	p.Stats.AvgSessionDuration = time.Duration(avgMs * float64(time.Millisecond))
	return p, nil
}

// SessionCursor is where a page of sessions continues: the last session of
// the previous page.
type SessionCursor struct {
	StartedAt time.Time
	ID        uuid.UUID
}

// SessionsParams select a page of a profile's sessions, newest first.
type SessionsParams struct {
	Project   string
	ProfileID string         // any id of the profile, merged ids included
	Before    *SessionCursor // nil: the newest (started before now)
	Limit     int            // 0: DefaultLimit
}

// SessionsPage is a page of sessions; Next is nil on the last page.
type SessionsPage struct {
	Sessions []Session
	Next     *SessionCursor
}

// Sessions returns a page of the profile's sessions, newest first. An
// unknown profile has none.
func (s *Store) Sessions(ctx context.Context, p SessionsParams) (SessionsPage, error) {
	if !validText(p.ProfileID) {
		return SessionsPage{}, errs.E(errs.NotFound, "profile not found")
	}
	limit := pageSize(p.Limit)
	var before *time.Time
	var beforeID *uuid.UUID
	if p.Before != nil {
		before, beforeID = &p.Before.StartedAt, &p.Before.ID
	}
	// One row more than the page tells whether there is a next page.
	rows, err := s.pool.Query(ctx, `
		SELECT id, started_at, ended_at, duration, event_count, screen_view_count, is_bounce,
		       coalesce(entry_path, ''), coalesce(exit_path, ''), coalesce(referrer_name, ''),
		       coalesce(country, ''), coalesce(city, ''), coalesce(browser, ''), coalesce(os, ''),
		       coalesce(device, ''), revenue
		FROM op.profile_sessions_v1($1, $2, $3, $4, $5)`, p.Project, p.ProfileID, before, limit+1, beforeID)
	if err != nil {
		return SessionsPage{}, fmt.Errorf("load sessions: %w", err)
	}
	sessions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Session, error) {
		var x Session
		var ms int64
		err := row.Scan(&x.ID, &x.StartedAt, &x.EndedAt, &ms, &x.EventCount, &x.ScreenViewCount, &x.IsBounce,
			&x.EntryPath, &x.ExitPath, &x.ReferrerName,
			&x.Country, &x.City, &x.Browser, &x.OS,
			&x.Device, &x.Revenue)
		x.Duration = time.Duration(ms) * time.Millisecond
		return x, err
	})
	if err != nil {
		return SessionsPage{}, fmt.Errorf("load sessions: %w", err)
	}
	page := SessionsPage{Sessions: sessions}
	if len(sessions) > limit {
		page.Sessions = sessions[:limit]
		last := page.Sessions[limit-1]
		page.Next = &SessionCursor{StartedAt: last.StartedAt, ID: last.ID}
	}
	return page, nil
}

// EventCursor is where a page of events continues: the last event of the
// previous page.
type EventCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// EventsParams select a page of a profile's events, newest first.
type EventsParams struct {
	Project   string
	ProfileID string       // any id of the profile, merged ids included
	After     *EventCursor // nil: from the newest
	Limit     int          // 0: DefaultLimit
}

// EventsPage is a page of events; Next is nil on the last page.
type EventsPage struct {
	Events []Event
	Next   *EventCursor
}

// Events returns a page of the profile's events (session_start and
// session_end included), newest first. An unknown profile has none.
func (s *Store) Events(ctx context.Context, p EventsParams) (EventsPage, error) {
	if !validText(p.ProfileID) {
		return EventsPage{}, errs.E(errs.NotFound, "profile not found")
	}
	limit := pageSize(p.Limit)
	var cursorTime *time.Time
	var cursorID *uuid.UUID
	if p.After != nil {
		cursorTime, cursorID = &p.After.CreatedAt, &p.After.ID
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, name, created_at, session_id, coalesce(path, ''), coalesce(origin, ''),
		       coalesce(referrer_name, ''), coalesce(country, ''), coalesce(city, ''),
		       coalesce(browser, ''), coalesce(os, ''), coalesce(device, ''), properties
		FROM op.profile_events_v1($1, $2, $3, $4, $5)`, p.Project, p.ProfileID, cursorTime, cursorID, limit+1)
	if err != nil {
		return EventsPage{}, fmt.Errorf("load events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var x Event
		err := row.Scan(&x.ID, &x.Name, &x.CreatedAt, &x.SessionID, &x.Path, &x.Origin,
			&x.ReferrerName, &x.Country, &x.City,
			&x.Browser, &x.OS, &x.Device, &x.Properties)
		return x, err
	})
	if err != nil {
		return EventsPage{}, fmt.Errorf("load events: %w", err)
	}
	page := EventsPage{Events: events}
	if len(events) > limit {
		page.Events = events[:limit]
		last := page.Events[limit-1]
		page.Next = &EventCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// ListCursor is where a page of the profile list continues: the last
// profile of the previous page.
type ListCursor struct {
	LastSeenAt time.Time
	ID         string
}

// ListParams select a page of the profile list, last seen first.
type ListParams struct {
	Project string
	// Search matches the id, name or email: case-insensitive substring,
	// every character literal. "" matches all.
	Search string
	// Properties is a JSON object the profile's properties must contain
	// (jsonb @>), e.g. {"plan":"pro"}. nil or empty: no filter.
	Properties json.RawMessage
	// Identified: nil all profiles, true identified only, false anonymous only.
	Identified *bool
	After      *ListCursor // nil: from the top
	Limit      int         // 0: DefaultLimit
}

// ListPage is a page of profiles; Next is nil on the last page.
type ListPage struct {
	Profiles []Summary
	Next     *ListCursor
}

// List returns a page of the project's profiles, last seen first. A search
// that is too long or not text, or properties that are not a JSON object,
// are errs.Invalid.
func (s *Store) List(ctx context.Context, p ListParams) (ListPage, error) {
	search := strings.TrimSpace(p.Search)
	if search != "" && !validText(search) {
		return ListPage{}, errs.E(errs.Invalid, "the search is not valid text")
	}
	if utf8.RuneCountInString(search) > MaxSearch {
		return ListPage{}, errs.E(errs.Invalid, "the search is longer than %d characters", MaxSearch)
	}
	filter, err := propertyFilter(p.Properties)
	if err != nil {
		return ListPage{}, err
	}
	var props *string // NULL: no filter
	if filter != "" {
		props = &filter
	}
	limit := pageSize(p.Limit)
	var cursorSeen *time.Time
	var cursorID *string
	if p.After != nil {
		cursorSeen, cursorID = &p.After.LastSeenAt, &p.After.ID
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, is_external, coalesce(first_name, ''), coalesce(last_name, ''), coalesce(email, ''),
		       coalesce(avatar, ''), coalesce(country, ''), coalesce(city, ''), coalesce(os, ''),
		       coalesce(browser, ''), coalesce(device, ''), first_seen_at, last_seen_at
		FROM op.profile_list_v1($1, $2, $3::jsonb, $4, $5, $6, $7)`,
		p.Project, search, props, cursorSeen, cursorID, limit+1, p.Identified)
	if err != nil {
		return ListPage{}, fmt.Errorf("list profiles: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Summary, error) {
		var x Summary
		err := row.Scan(&x.ID, &x.IsExternal, &x.FirstName, &x.LastName, &x.Email,
			&x.Avatar, &x.Country, &x.City, &x.OS,
			&x.Browser, &x.Device, &x.FirstSeenAt, &x.LastSeenAt)
		return x, err
	})
	if err != nil {
		return ListPage{}, fmt.Errorf("list profiles: %w", err)
	}
	page := ListPage{Profiles: list}
	if len(list) > limit {
		page.Profiles = list[:limit]
		last := page.Profiles[limit-1]
		page.Next = &ListCursor{LastSeenAt: last.LastSeenAt, ID: last.ID}
	}
	return page, nil
}

// propertyFilter checks a property filter and returns it as jsonb text:
// "" for no filter (absent or {}).
func propertyFilter(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return "", errs.E(errs.Invalid, "the property filter must be a JSON object")
	}
	if len(obj) == 0 {
		return "", nil
	}
	if hasNUL(obj) {
		// jsonb cannot store \u0000, so nothing could match; say so instead
		// of failing in the database.
		return "", errs.E(errs.Invalid, "the property filter must not contain NUL characters")
	}
	return string(raw), nil
}

// hasNUL reports whether a decoded JSON value has a NUL in a key or string.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, x := range v {
			if hasNUL(x) {
				return true
			}
		}
	case map[string]any:
		for k, x := range v {
			if strings.ContainsRune(k, 0) || hasNUL(x) {
				return true
			}
		}
	}
	return false
}

func pageSize(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// validText reports whether s can be a PostgreSQL text value at all: a
// profile id or search that cannot is not found (or invalid), not a
// database error.
func validText(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// Cursors travel in URLs (?after=...) as opaque strings. Timestamps are
// microseconds, PostgreSQL's precision, so they round-trip exactly.

// String encodes the cursor for a URL.
func (c SessionCursor) String() string {
	return strconv.FormatInt(c.StartedAt.UnixMicro(), 10) + "_" + c.ID.String()
}

// ParseSessionCursor decodes SessionCursor.String; errs.Invalid otherwise.
func ParseSessionCursor(s string) (SessionCursor, error) {
	t, id, err := parseTimeUUID(s)
	return SessionCursor{StartedAt: t, ID: id}, err
}

// String encodes the cursor for a URL.
func (c EventCursor) String() string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "_" + c.ID.String()
}

// ParseEventCursor decodes EventCursor.String; errs.Invalid otherwise.
func ParseEventCursor(s string) (EventCursor, error) {
	t, id, err := parseTimeUUID(s)
	return EventCursor{CreatedAt: t, ID: id}, err
}

// String encodes the cursor for a URL (the id may hold any character, so
// it is base64url).
func (c ListCursor) String() string {
	return strconv.FormatInt(c.LastSeenAt.UnixMicro(), 10) + "_" + base64.RawURLEncoding.EncodeToString([]byte(c.ID))
}

// ParseListCursor decodes ListCursor.String; errs.Invalid otherwise.
func ParseListCursor(s string) (ListCursor, error) {
	ts, rest, ok := strings.Cut(s, "_")
	us, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return ListCursor{}, errs.E(errs.Invalid, "invalid cursor")
	}
	id, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || !validText(string(id)) {
		return ListCursor{}, errs.E(errs.Invalid, "invalid cursor")
	}
	return ListCursor{LastSeenAt: time.UnixMicro(us).UTC(), ID: string(id)}, nil
}

func parseTimeUUID(s string) (time.Time, uuid.UUID, error) {
	ts, rest, ok := strings.Cut(s, "_")
	us, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return time.Time{}, uuid.UUID{}, errs.E(errs.Invalid, "invalid cursor")
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		return time.Time{}, uuid.UUID{}, errs.E(errs.Invalid, "invalid cursor")
	}
	return time.UnixMicro(us).UTC(), id, nil
}
