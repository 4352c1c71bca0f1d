package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/enrich"
)

var parsePage = enrich.ParsePage

const (
	copyEvents = `COPY events (id, project_id, name, device_id, profile_id, session_id, created_at, received_at,
		path, origin, query, hash, referrer, referrer_name, referrer_type,
		utm_source, utm_medium, utm_campaign, utm_term, utm_content,
		country, region, city, latitude, longitude,
		os, os_version, browser, browser_version, device, brand, model,
		duration, revenue, sdk_name, sdk_version, properties) FROM STDIN (FORMAT binary)`
	copySessions = `COPY sessions (id, project_id, device_id, profile_id, started_at, last_event_at, ended_at, duration,
		event_count, screen_view_count, is_bounce, revenue, entry_path, entry_origin, exit_path, exit_origin,
		referrer, referrer_name, referrer_type, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
		country, region, city, latitude, longitude,
		os, os_version, browser, browser_version, device, brand, model) FROM STDIN (FORMAT binary)`
	copyProfiles = `COPY profiles (project_id, id, is_external, first_seen_at, last_seen_at, created_at, updated_at,
		country, region, city, os, browser, device, brand, model) FROM STDIN (FORMAT binary)`
	copyIdentities = `COPY profile_identities (project_id, alias_id, profile_id, created_at) FROM STDIN (FORMAT binary)`
	copyHeads      = `COPY session_heads (project_id, device_id, session_id, started_at, last_event_at) FROM STDIN (FORMAT binary)`
)

// writer encodes chunks and copies them, one transaction per chunk.
type writer struct {
	g                                          *generator
	ids                                        *rand.Rand // a writer's own: the generator's is not shared
	events, sessions, profiles, identities, hd *copyBuf
}

func newWriter(g *generator, ids *rand.Rand) *writer {
	return &writer{g: g, ids: ids, events: newCopyBuf(1 << 20), sessions: newCopyBuf(1 << 18), profiles: newCopyBuf(1 << 16),
		identities: newCopyBuf(1 << 12), hd: newCopyBuf(1 << 10)}
}

func (w *writer) write(ctx context.Context, pool *pgxpool.Pool, projectID string, c *chunk) error {
	w.encode(projectID, c)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Losing the last chunks in a crash is fine for generated data.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		for _, x := range []struct {
			b   *copyBuf
			sql string
		}{{w.events, copyEvents}, {w.sessions, copySessions}, {w.profiles, copyProfiles}, {w.identities, copyIdentities}, {w.hd, copyHeads}} {
			if err := x.b.copyTo(ctx, tx, x.sql); err != nil {
				return fmt.Errorf("seed: %w", err)
			}
		}
		return nil
	})
}

func (w *writer) encode(projectID string, c *chunk) {
	g := w.g
	for _, b := range []*copyBuf{w.events, w.sessions, w.profiles, w.identities, w.hd} {
		b.reset()
	}
	e := w.events
	var id [16]byte
	for i := range c.events {
		x := &c.events[i]
		s := &c.sessions[x.s]
		src := &sources[s.src]
		pl := &places[s.place]
		dv := &devices[s.ua]
		e.row(37)
		v7(w.ids, x.t, &id)
		e.uuid(&id)
		e.text(projectID)
		switch x.kind {
		case kindView:
			e.text("screen_view")
		case kindCustom:
			e.text(x.c.name)
		case kindStart:
			e.text("session_start")
		default:
			e.text("session_end")
		}
		e.text(s.deviceID)
		e.text(s.profileID)
		e.uuid(&s.id)
		e.ts(x.t)
		if x.kind == kindEnd {
			e.ts(x.t + 250) // written by the close job, a little later
		} else {
			e.ts(x.t + 40 + x.t%160) // the request's trip to the server
		}
		if x.page >= 0 {
			e.text(g.pages[x.page].path)
			e.text(SiteOrigin)
		} else {
			e.null()
			e.null()
		}
		// query, hash: the landing URL's query string
		if x.land && x.kind != kindEnd {
			e.textOrNull(src.query)
		} else {
			e.null()
		}
		e.null()
		// The referrer and campaign: on the landing page's events (the
		// session's, for session_end).
		if x.land || x.kind == kindEnd {
			u := &g.utm[s.src]
			e.textOrNull(src.referrer)
			e.textOrNull(src.refName)
			e.textOrNull(src.refType)
			e.textOrNull(u.source)
			e.textOrNull(u.medium)
			e.textOrNull(u.campaign)
			e.textOrNull(u.term)
			e.textOrNull(u.content)
		} else {
			for range 8 {
				e.null()
			}
		}
		w.place(e, pl, true)
		w.device(e, dv)
		switch x.kind {
		case kindEnd:
			e.int8(s.last - s.start) // duration
			e.null()                 // revenue
			e.null()                 // sdk
			e.null()
			e.jsonb(s.endProps)
		case kindStart:
			e.null()
			e.null()
			e.text(sdkName)
			e.text(sdkVersion)
			e.jsonb([]byte("{}"))
		case kindView:
			e.null()
			e.null()
			e.text(sdkName)
			e.text(sdkVersion)
			e.jsonb(g.pages[x.page].props)
		default:
			e.null()
			if x.c.revenue > 0 {
				e.int8(x.c.revenue)
			} else {
				e.null()
			}
			e.text(sdkName)
			e.text(sdkVersion)
			e.jsonb(x.c.props)
		}
	}

	ss := w.sessions
	for i := range c.sessions {
		s := &c.sessions[i]
		src := &sources[s.src]
		u := &g.utm[s.src]
		ss.row(36)
		ss.uuid(&s.id)
		ss.text(projectID)
		ss.text(s.deviceID)
		ss.text(s.profileID)
		ss.ts(s.start)
		ss.ts(s.last)
		if s.open {
			ss.null()
		} else {
			ss.ts(s.last)
		}
		ss.int8(s.last - s.start)
		ss.int4(s.events)
		ss.int4(s.views)
		ss.bool(s.events <= 1)
		ss.int8(s.revenue)
		for _, p := range []int16{s.entry, s.exit} {
			if p >= 0 {
				ss.text(g.pages[p].path)
				ss.text(SiteOrigin)
			} else {
				ss.null()
				ss.null()
			}
		}
		ss.textOrNull(src.referrer)
		ss.textOrNull(src.refName)
		ss.textOrNull(src.refType)
		ss.textOrNull(u.source)
		ss.textOrNull(u.medium)
		ss.textOrNull(u.campaign)
		ss.textOrNull(u.term)
		ss.textOrNull(u.content)
		w.place(ss, &places[s.place], true)
		w.device(ss, &devices[s.ua])
		if s.open {
			w.hd.row(5)
			w.hd.text(projectID)
			w.hd.text(s.deviceID)
			w.hd.uuid(&s.id)
			w.hd.ts(s.start)
			w.hd.ts(s.last)
		}
	}

	for i := range c.devices {
		d := &c.devices[i]
		if d.user >= 0 {
			// Identified: the device is an alias of the user's profile.
			w.identities.row(4)
			w.identities.text(projectID)
			w.identities.text(d.id)
			w.identities.text(d.userID)
			w.identities.ts(d.first)
			continue
		}
		p := w.profiles
		p.row(15)
		p.text(projectID)
		p.text(d.id)
		p.bool(false)
		p.ts(d.first)
		p.ts(d.last)
		p.ts(d.first)
		p.ts(d.last)
		pl := &places[d.place]
		p.textOrNull(pl.country)
		p.textOrNull(pl.region)
		p.textOrNull(pl.city)
		dv := &devices[d.ua]
		p.textOrNull(dv.os)
		p.textOrNull(dv.browser)
		p.textOrNull(dv.device)
		p.textOrNull(dv.brand)
		p.textOrNull(dv.model)
	}
}

func (w *writer) place(b *copyBuf, pl *place, coords bool) {
	b.textOrNull(pl.country)
	b.textOrNull(pl.region)
	b.textOrNull(pl.city)
	if coords && pl.country != "" {
		b.float8(pl.lat)
		b.float8(pl.lon)
	} else if coords {
		b.null()
		b.null()
	}
}

func (w *writer) device(b *copyBuf, d *deviceInfo) {
	b.textOrNull(d.os)
	b.textOrNull(d.osVersion)
	b.textOrNull(d.browser)
	b.textOrNull(d.browserVersion)
	b.textOrNull(d.device)
	b.textOrNull(d.brand)
	b.textOrNull(d.model)
}

// writeUsers upserts the identified users' profiles (seeding a project
// twice meets them again).
func (g *generator) writeUsers(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var (
		ids, first, last, email, country, region, city, os, browser, dev, brand, model []*string
		props                                                                          []string
		firstSeen, lastSeen                                                            []time.Time
	)
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for i := range g.users {
		u := &g.users[i]
		if !u.used {
			continue
		}
		pl, dv := &places[u.place], &devices[u.ua]
		ids = append(ids, str(u.id))
		first, last, email = append(first, str(u.first)), append(last, str(u.last)), append(email, str(u.email))
		props = append(props, string(u.props))
		firstSeen, lastSeen = append(firstSeen, time.UnixMilli(u.firstSeen)), append(lastSeen, time.UnixMilli(u.lastSeen))
		country, region, city = append(country, str(pl.country)), append(region, str(pl.region)), append(city, str(pl.city))
		os, browser, dev = append(os, str(dv.os)), append(browser, str(dv.browser)), append(dev, str(dv.device))
		brand, model = append(brand, str(dv.brand)), append(model, str(dv.model))
	}
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := pool.Exec(ctx, `
		INSERT INTO profiles AS p (project_id, id, is_external, first_name, last_name, email, properties,
		                           first_seen_at, last_seen_at, created_at, updated_at,
		                           country, region, city, os, browser, device, brand, model)
		SELECT $1, u.id, true, u.first, u.last, u.email, u.props::jsonb, u.fs, u.ls, u.fs, u.ls,
		       u.country, u.region, u.city, u.os, u.browser, u.device, u.brand, u.model
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[],
		            $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
		     AS u(id, first, last, email, props, fs, ls, country, region, city, os, browser, device, brand, model)
		ON CONFLICT (project_id, id) DO UPDATE SET
		    first_seen_at = least(p.first_seen_at, excluded.first_seen_at),
		    last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at),
		    updated_at = now()`,
		g.o.ProjectID, ids, first, last, email, props, firstSeen, lastSeen, country, region, city, os, browser, dev, brand, model)
	if err != nil {
		return 0, fmt.Errorf("seed users: %w", err)
	}
	return tag.RowsAffected(), nil
}
