package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/ingest"
	"tally/app/projects"
)

// The demo of `serve --demo`: an organization with the fixed id "demo"
// (ordinary organizations get a slug and a random suffix, so it can never
// be somebody's), created on the first start with --demo and never again:
// its existence is the flag. Deleting the Demo project removes the demo
// for good.
const (
	DemoOrganization = "demo"
	DemoName         = "Demo"
	DemoDays         = 30
)

// demoEvents is how many events the demo project gets (tests make it small).
var demoEvents int64 = 200_000

// Demo creates the demo organization and project on the first start, fills
// the project with 200,000 events over DemoDays, makes the server's first user
// (the owner onboarding creates) an owner of the demo organization, and then
// keeps a trickle of live visits going until ctx ends, so the realtime page
// moves. It logs its progress.
func Demo(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	projectID, created, err := ensureDemo(ctx, pool)
	if err != nil {
		return err
	}
	go adoptDemo(ctx, pool, log)
	if projectID == "" {
		log.Info("demo: the Demo project was deleted; not recreating it")
		return nil
	}
	if created {
		log.Info("demo: filling the Demo project", "project", projectID, "events", demoEvents, "days", DemoDays)
		res, err := Run(ctx, pool, Options{ProjectID: projectID, Events: demoEvents, Days: DemoDays, Seed: 1,
			Refresh: true, Analyze: true, Log: log})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		log.Info("demo: the Demo project is ready", "project", projectID, "events", res.Events, "sessions", res.Sessions, "seconds", res.Seconds)
	}
	return Live(ctx, pool, projectID, log)
}

// ensureDemo returns the demo project's id ("" when it was deleted) and
// whether it was created now.
func ensureDemo(ctx context.Context, pool *pgxpool.Pool) (projectID string, created bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Two servers starting at once create it once.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('tally.demo', 0))`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, DemoOrganization, DemoName)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			err := tx.QueryRow(ctx, `SELECT id FROM projects WHERE organization_id = $1 ORDER BY created_at, id LIMIT 1`, DemoOrganization).Scan(&projectID)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		p, err := projects.CreateTx(ctx, tx, DemoOrganization, projects.NewProject{Name: DemoName, Domains: []string{"www.example.com"}, Timezone: "UTC"})
		projectID, created = p.ProjectID, true
		return err
	})
	return projectID, created, err
}

// adoptDemo makes the server's first user an owner of the demo organization
// once there is one (onboarding creates them), unless it has members.
func adoptDemo(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	for {
		var added, hasMembers bool
		err := pool.QueryRow(ctx, `
			WITH ins AS (
			    INSERT INTO memberships (organization_id, user_id, role)
			    SELECT $1, u.id, 'owner' FROM users u
			    WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = $1)
			    ORDER BY u.created_at, u.id LIMIT 1
			    ON CONFLICT DO NOTHING
			    RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM ins), EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = $1)`,
			DemoOrganization).Scan(&added, &hasMembers)
		if err != nil && ctx.Err() == nil {
			log.Warn("demo: adding the owner", "err", err)
		}
		if added {
			log.Info("demo: the first user now owns the Demo organization")
		}
		if added || hasMembers {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// visitor is one live visit of the trickle.
type visitor struct {
	s       session
	plan    []tracked
	next    int
	due     time.Time
	profile string
}

// Live sends a few live visits through ingest's SQL path (op.ingest_v1,
// as the server's writer does) until ctx ends: about half a dozen visitors
// at a time, an event every second or two.
func Live(ctx context.Context, pool *pgxpool.Pool, projectID string, log *slog.Logger) error {
	g := newGenerator(Options{ProjectID: projectID, Events: 3, Days: 1, Seed: rand.Uint64(), End: time.Now()}, time.UTC)
	var active []*visitor
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := time.Now()
		if len(g.persons) > 10_000 { // visitors are new people: forget old ones
			g.persons, g.users = g.persons[:0], g.users[:0]
		}
		for len(active) < 4 || (len(active) < 10 && g.rng.Float64() < 0.12) {
			active = append(active, g.visitor(now))
		}
		var rows []ingest.Row
		keep := active[:0]
		for _, v := range active {
			if !now.Before(v.due) {
				rows = append(rows, g.liveRow(projectID, v, now, len(rows)+1))
				v.next++
				gap := time.Duration(4_000+g.rng.IntN(30_000)) * time.Millisecond
				if v.next < len(v.plan) && v.plan[v.next].custom != nil {
					gap = time.Duration(1_000+g.rng.IntN(8_000)) * time.Millisecond
				}
				v.due = now.Add(gap)
			}
			if v.next < len(v.plan) {
				keep = append(keep, v)
			}
		}
		active = keep
		if len(rows) == 0 {
			continue
		}
		batch, err := json.Marshal(rows)
		if err == nil {
			_, err = pool.Exec(ctx, `SELECT count(*) FROM op.ingest_v1($1::jsonb)`, batch)
		}
		if err != nil && ctx.Err() == nil {
			if failures++; failures == 1 || failures%60 == 0 {
				log.Warn("demo: live visit", "err", err)
			}
		}
	}
}

// visitor starts a live visit: a new device, a source, a plan of events.
func (g *generator) visitor(now time.Time) *visitor {
	pi := g.newPerson()
	v := &visitor{due: now.Add(time.Duration(g.rng.IntN(3000)) * time.Millisecond)}
	v.s.src = int16(g.sourceCDF.pick(g.rng.Float64()))
	v.plan = g.plan(nil, &v.s, pi)
	p := g.persons[pi]
	v.s.place, v.s.ua = p.place, p.ua
	v.s.deviceID = g.deviceID()
	if p.user >= 0 {
		v.profile = g.users[p.user].id
	}
	return v
}

// liveRow is the visitor's next event as ingest hands it to op.ingest_v1.
func (g *generator) liveRow(projectID string, v *visitor, now time.Time, ord int) ingest.Row {
	t := v.plan[v.next]
	src, pl, dv := &sources[v.s.src], &places[v.s.place], &devices[v.s.ua]
	var id [16]byte
	g.v7(now.UnixMilli(), &id)
	r := ingest.Row{
		Ord: ord, ID: uuid.UUID(id), ProjectID: projectID, Name: "screen_view", DeviceID: v.s.deviceID, ProfileID: v.profile,
		CreatedAt: now, OpensSession: true, Path: g.pages[t.page].path, Origin: SiteOrigin,
		Country: pl.country, Region: pl.region, City: pl.city,
		OS: dv.os, OSVersion: dv.osVersion, Browser: dv.browser, BrowserVersion: dv.browserVersion, Device: dv.device, Brand: dv.brand, Model: dv.model,
		SDKName: sdkName, SDKVersion: sdkVersion, Properties: g.pages[t.page].props,
	}
	if pl.country != "" {
		lat, lon := pl.lat, pl.lon
		r.Latitude, r.Longitude = &lat, &lon
	}
	if t.custom != nil {
		r.Name, r.Properties = t.custom.name, t.custom.props
		if t.custom.revenue > 0 {
			rev := t.custom.revenue
			r.Revenue = &rev
		}
	}
	if t.landing {
		u := &g.utm[v.s.src]
		r.Query, r.Referrer, r.ReferrerName, r.ReferrerType = src.query, src.referrer, src.refName, src.refType
		r.UTMSource, r.UTMMedium, r.UTMCampaign, r.UTMTerm, r.UTMContent = u.source, u.medium, u.campaign, u.term, u.content
	}
	return r
}
