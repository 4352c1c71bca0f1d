package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tally/app/accounts"
	"tally/app/apptest"
	"tally/app/projects"
)

// Route classes of the authorization matrix. Every dashboard route must be
// in routeClass: a new route without a class fails the test, so nobody adds
// a page without deciding who may see it.
const (
	public       = "public"        // no login needed (onboarding, login, reset, invitation)
	user         = "user"          // any logged-in user; acts on their own account
	projectRead  = "project-read"  // anyone who can see the project
	projectAdmin = "project-admin" // owners and admins of the project's organization
	orgRead      = "org-read"      // any member of the organization
	orgAdmin     = "org-admin"     // owners and admins
	orgOwner     = "org-owner"     // owners only
	orgAnyMember = "org-member"    // any member, acting on their own membership (leave)
	userRedirect = "user-redirect" // any logged-in user, sent on to a page
	projectJump  = "project-jump"  // sent on to a project the user can see (the switcher)
	notDashboard = "not-dashboard" // ingestion, static files, health
)

var routeClass = map[string]string{
	"GET /welcome": public, "POST /welcome": public, "GET /login": public, "POST /login": public, "POST /logout": public,
	"GET /forgot": public, "POST /forgot": public, "GET /reset/{token}": public, "POST /reset/{token}": public,
	"GET /invite/{token}": public, "POST /invite/{token}": public,

	"GET /": userRedirect, "GET /switch": projectJump, "GET /orgs": user, "POST /orgs": user,
	"GET /account": user, "POST /account/password": user,

	"GET /p/{projectID}/": projectRead, "GET /p/{projectID}/realtime": projectRead, "GET /p/{projectID}/events": projectRead,
	"GET /p/{projectID}/profiles": projectRead, "GET /p/{projectID}/reports": projectRead,
	"GET /p/{projectID}/dashboards": projectRead, "GET /p/{projectID}/tracking": projectRead, "GET /p/{projectID}/live": projectRead,
	"GET /p/{projectID}/realtime/stream": projectRead,
	"GET /p/{projectID}/overview/cards":  projectRead, "GET /p/{projectID}/overview/chart": projectRead,
	"GET /p/{projectID}/overview/widget/{widget}": projectRead,

	"GET /p/{projectID}/settings": projectAdmin, "POST /p/{projectID}/settings": projectAdmin,
	"GET /p/{projectID}/settings/clients": projectAdmin, "POST /p/{projectID}/clients": projectAdmin,
	"POST /p/{projectID}/clients/{clientID}/revoke": projectAdmin,
	"GET /p/{projectID}/settings/filters":           projectAdmin, "POST /p/{projectID}/filters": projectAdmin,
	"POST /p/{projectID}/filters/{filterID}/delete": projectAdmin,
	"GET /p/{projectID}/settings/delete":            projectAdmin, "POST /p/{projectID}/delete": projectAdmin,

	"GET /o/{orgID}/": orgRead, "GET /o/{orgID}/members": orgRead,
	"GET /o/{orgID}/projects/new": orgAdmin, "POST /o/{orgID}/projects": orgAdmin,
	"POST /o/{orgID}/invitations": orgAdmin, "POST /o/{orgID}/invitations/{id}/revoke": orgAdmin,
	"POST /o/{orgID}/members/{userID}/role": orgAdmin, "POST /o/{orgID}/members/{userID}/access": orgAdmin,
	"POST /o/{orgID}/members/{userID}/remove": orgAdmin,
	"GET /o/{orgID}/settings":                 orgOwner, "POST /o/{orgID}/settings": orgOwner,
	"POST /o/{orgID}/leave": orgAnyMember,
}

// world is the cast of the matrix: organization A with two projects and a
// user of every role, and organization B whose owner is an outsider to A.
type world struct {
	env                          *apptest.Env
	orgA, p1, p2, orgB, pB       string
	clientP1, clientPB           string
	filterP1, filterPB           int64
	inviteA, inviteB             int64
	owner, admin, member, viewer *apptest.Client
	outsider, anonymous          *apptest.Client
	memberID, outsiderID         uuid.UUID
}

const pw = "matrix password 1"

func buildWorld(t *testing.T) *world {
	t.Helper()
	env := startEmpty(t)
	ctx := context.Background()
	w := &world{env: env}
	owner, next := env.Onboard(t, "owner@a.test", pw)
	w.owner = owner
	w.p1 = strings.Split(next, "/")[2]
	acc := accounts.NewStore(env.Pool)
	if err := env.Pool.QueryRow(ctx, `SELECT organization_id FROM projects WHERE id = $1`, w.p1).Scan(&w.orgA); err != nil {
		t.Fatal(err)
	}
	add := func(email, org string, role accounts.Role, grants ...string) uuid.UUID {
		u, err := acc.CreateUser(ctx, email, "", pw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Pool.Exec(ctx, `INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)`, org, u.ID, role); err != nil {
			t.Fatal(err)
		}
		for _, p := range grants {
			if _, err := env.Pool.Exec(ctx, `INSERT INTO project_access (organization_id, user_id, project_id) VALUES ($1, $2, $3)`, org, u.ID, p); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	err := pgx.BeginFunc(ctx, env.Pool, func(tx pgx.Tx) error {
		c, err := projects.CreateTx(ctx, tx, w.orgA, projects.NewProject{Name: "Second"})
		w.p2 = c.ProjectID
		if err != nil {
			return err
		}
		if w.orgB, err = projects.CreateOrganizationTx(ctx, tx, "Other Org"); err != nil {
			return err
		}
		c, err = projects.CreateTx(ctx, tx, w.orgB, projects.NewProject{Name: "Other"})
		w.pB, w.clientPB = c.ProjectID, c.ClientID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Pool.QueryRow(ctx, `SELECT id FROM clients WHERE project_id = $1`, w.p1).Scan(&w.clientP1); err != nil {
		t.Fatal(err)
	}
	add("admin@a.test", w.orgA, accounts.Admin)
	w.memberID = add("member@a.test", w.orgA, accounts.Member, w.p1)
	add("viewer@a.test", w.orgA, accounts.Viewer, w.p1)
	w.outsiderID = add("outsider@b.test", w.orgB, accounts.Owner)
	ps := projects.NewStore(env.Pool)
	f, err := ps.AddFilter(ctx, w.p1, projects.Filter{Kind: projects.FilterIP, Value: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	w.filterP1 = f.ID
	if f, err = ps.AddFilter(ctx, w.pB, projects.Filter{Kind: projects.FilterIP, Value: "10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	w.filterPB = f.ID
	for _, inv := range []struct {
		org string
		id  *int64
	}{{w.orgA, &w.inviteA}, {w.orgB, &w.inviteB}} {
		if err := env.Pool.QueryRow(ctx, `INSERT INTO invitations (token_hash, organization_id, email, role, expires_at)
			VALUES (gen_random_bytes(32), $1, 'invitee@x.test', 'member', now() + interval '1 day') RETURNING id`, inv.org).Scan(inv.id); err != nil {
			t.Fatal(err)
		}
	}
	w.admin = env.Login(t, "admin@a.test", pw)
	w.member = env.Login(t, "member@a.test", pw)
	w.viewer = env.Login(t, "viewer@a.test", pw)
	w.outsider = env.Login(t, "outsider@b.test", pw)
	w.anonymous = env.NewClient(t)
	return w
}

// route is one dashboard route from the router.
type route struct{ method, pattern string }

func dashboardRoutes(t *testing.T, env *apptest.Env) []route {
	t.Helper()
	var out []route
	err := chi.Walk(env.Server.Routes.(chi.Routes), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(pattern, "/api/") || strings.HasPrefix(pattern, "/static/") || strings.HasPrefix(pattern, "/healthz/") ||
			pattern == "/op1.js" || pattern == "/favicon.ico" || method == http.MethodOptions || method == http.MethodHead {
			return nil
		}
		out = append(out, route{method, pattern})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pattern+out[i].method < out[j].pattern+out[j].method })
	return out
}

// ingestRoutes are the protocol's endpoints at the root (also under /api).
var ingestRoutes = map[string]bool{
	"POST /track": true, "GET /track/device-id": true, "POST /event": true, "POST /profile": true,
	"POST /profile/increment": true, "POST /profile/decrement": true,
}

// fill puts the ids of org A (or B when other) into a pattern.
func (w *world) fill(pattern string, other bool) string {
	p, org, client, filter, invite := w.p1, w.orgA, w.clientP1, w.filterP1, w.inviteA
	if other {
		p, org, client, filter, invite = w.pB, w.orgB, w.clientPB, w.filterPB, w.inviteB
	}
	if pattern == "/switch" {
		return "/switch?project=" + p
	}
	return strings.NewReplacer("{projectID}", p, "{orgID}", org, "{clientID}", client,
		"{filterID}", fmt.Sprint(filter), "{id}", fmt.Sprint(invite), "{userID}", w.memberID.String(),
		"{token}", "not-a-token", "{widget}", "sources").Replace(pattern)
}

// TestAuthorizationMatrix asks every dashboard route as every role, as a
// page and as an HTMX partial, with ids of the user's own organization and
// ids copied from another organization. Refusals must not act: POSTs that
// are allowed are checked by the feature tests, this test only checks the
// refusals (and that allowed GETs render).
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	w := buildWorld(t)
	roles := []struct {
		name   string
		c      *apptest.Client
		role   accounts.Role // in org A; "" for the outsider and the anonymous visitor
		loggin bool
	}{
		{"owner", w.owner, accounts.Owner, true}, {"admin", w.admin, accounts.Admin, true},
		{"member", w.member, accounts.Member, true}, {"viewer", w.viewer, accounts.Viewer, true},
		{"outsider", w.outsider, "", true}, {"anonymous", w.anonymous, "", false},
	}
	routes := dashboardRoutes(t, w.env)
	if len(routes) < 20 {
		t.Fatalf("only %d dashboard routes found: the walk is broken", len(routes))
	}
	checked := 0
	for _, rt := range routes {
		key := rt.method + " " + rt.pattern
		class, ok := routeClass[key]
		if !ok {
			if ingestRoutes[key] {
				continue
			}
			t.Errorf("route %s has no class in the authorization matrix: decide who may use it", key)
			continue
		}
		if class == public || class == notDashboard {
			continue
		}
		for _, partial := range []bool{false, true} {
			for _, r := range roles {
				want := expect(class, rt.method, r.role, r.loggin)
				if want == 0 {
					continue // allowed POST: the feature tests check what it does
				}
				got := ask(t, r.c, rt.method, w.fill(rt.pattern, false), partial)
				if !matches(got, want, r.loggin) {
					t.Errorf("%s %s as %s (partial=%v): got %d %q, want %d", rt.method, w.fill(rt.pattern, false), r.name, partial, got.Status, got.Location+got.Header.Get("HX-Redirect"), want)
				}
				checked++
			}
			// Ids copied from organization B: 404 for everyone in A,
			// whatever their role, and 404 for a member in A without
			// access to project 2.
			usesProject := strings.Contains(rt.pattern, "{projectID}") || class == projectJump
			if usesProject || strings.Contains(rt.pattern, "{orgID}") {
				for _, r := range roles[:4] {
					got := ask(t, r.c, rt.method, w.fill(rt.pattern, true), partial)
					if got.Status != http.StatusNotFound {
						t.Errorf("%s %s (org B's ids) as %s of org A (partial=%v): %d, want 404", rt.method, w.fill(rt.pattern, true), r.name, partial, got.Status)
					}
					checked++
				}
			}
			if usesProject {
				p2 := strings.Replace(w.fill(rt.pattern, false), w.p1, w.p2, 1)
				for _, r := range []*apptest.Client{w.member, w.viewer} {
					if got := ask(t, r, rt.method, p2, partial); got.Status != http.StatusNotFound {
						t.Errorf("%s %s (a project not granted) as member/viewer: %d, want 404", rt.method, p2, got.Status)
					}
					checked++
				}
			}
		}
	}
	for key := range routeClass {
		found := false
		for _, rt := range routes {
			found = found || rt.method+" "+rt.pattern == key
		}
		if !found {
			t.Errorf("the matrix lists %s, which the router does not have", key)
		}
	}
	t.Logf("%d route × role × form checks", checked)

	// None of the refused POSTs acted.
	ctx := context.Background()
	var revoked, filters, members, invitations int
	_ = w.env.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE revoked_at IS NOT NULL) FROM clients`).Scan(&revoked)
	_ = w.env.Pool.QueryRow(ctx, `SELECT count(*) FROM project_filters`).Scan(&filters)
	_ = w.env.Pool.QueryRow(ctx, `SELECT count(*) FROM memberships`).Scan(&members)
	_ = w.env.Pool.QueryRow(ctx, `SELECT count(*) FROM invitations WHERE accepted_at IS NULL`).Scan(&invitations)
	if revoked != 0 || filters != 2 || members != 5 || invitations != 2 {
		t.Errorf("refused requests changed data: revoked clients %d, filters %d (want 2), memberships %d (want 5), open invitations %d (want 2)", revoked, filters, members, invitations)
	}
	var projectsLeft int
	_ = w.env.Pool.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&projectsLeft)
	if projectsLeft != 3 {
		t.Errorf("projects left: %d, want 3", projectsLeft)
	}
}

// expect is the matrix: the status a role gets for a route class. 0 means
// "allowed POST, not executed here". 303 means "sent to log in".
func expect(class, method string, role accounts.Role, loggedIn bool) int {
	if !loggedIn {
		return http.StatusSeeOther
	}
	allowed := map[string]bool{
		user:         true,
		userRedirect: true,
		projectJump:  role != "",
		projectRead:  role != "",
		orgRead:      role != "",
		orgAnyMember: role != "",
		projectAdmin: role.AtLeast(accounts.Admin),
		orgAdmin:     role.AtLeast(accounts.Admin),
		orgOwner:     role == accounts.Owner,
	}[class]
	switch {
	case role == "" && class != user && class != userRedirect:
		return http.StatusNotFound
	case !allowed:
		return http.StatusForbidden
	case class == userRedirect || class == projectJump:
		return http.StatusSeeOther
	case method == http.MethodGet:
		return http.StatusOK
	}
	return 0
}

func ask(t *testing.T, c *apptest.Client, method, path string, partial bool) apptest.Page {
	t.Helper()
	if partial {
		c.Header.Set("HX-Request", "true")
		defer c.Header.Del("HX-Request")
	}
	if (strings.HasSuffix(path, "/live") || strings.HasSuffix(path, "/stream")) && method == http.MethodGet {
		// The event stream never ends: ask for its headers only.
		return c.Stream(path)
	}
	var form url.Values
	if method == http.MethodPost {
		form = url.Values{}
	}
	return c.Do(method, path, form)
}

// matches compares an answer with the matrix. Visitors who are not logged
// in are sent to log in: a 303 for pages, HX-Redirect for partials.
func matches(p apptest.Page, want int, loggedIn bool) bool {
	if !loggedIn {
		return (p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login")) ||
			(p.Status == http.StatusOK && strings.HasPrefix(p.Header.Get("HX-Redirect"), "/login"))
	}
	if want == http.StatusSeeOther { // sent on: a redirect, or HX-Redirect for a partial
		return p.Status == http.StatusSeeOther || (p.Status == http.StatusOK && p.Header.Get("HX-Redirect") != "")
	}
	return p.Status == want
}
