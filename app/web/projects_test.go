package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tally/app/accounts"
	"tally/app/apptest"
	"tally/app/projects"
)

const ownerPassword = "correct horse battery"

// acme is a server with an onboarded owner of organization Acme (project
// acme.com, allowed domain acme.com) next to apptest's own project "Test
// Site", which belongs to another organization.
type acme struct {
	env      *apptest.Env
	owner    *apptest.Client
	org      string // Acme's id
	project  string // acme.com's id
	clientID string // acme.com's default write client
}

func startAcme(t *testing.T) acme {
	t.Helper()
	env := apptest.Start(t)
	owner, next := env.Onboard(t, "owner@acme.test", ownerPassword)
	a := acme{env: env, owner: owner, project: strings.TrimSuffix(strings.TrimPrefix(next, "/p/"), "/tracking")}
	if err := env.Pool.QueryRow(t.Context(), `SELECT organization_id FROM projects WHERE id = $1`, a.project).Scan(&a.org); err != nil {
		t.Fatalf("onboarded project %q: %v", a.project, err)
	}
	if err := env.Pool.QueryRow(t.Context(), `SELECT id::text FROM clients WHERE project_id = $1`, a.project).Scan(&a.clientID); err != nil {
		t.Fatal(err)
	}
	return a
}

// addUser creates a user with a role in an organization (and access to the
// given projects) directly in the database, and logs them in.
func (a acme) addUser(t *testing.T, email, org string, role accounts.Role, projectIDs ...string) *apptest.Client {
	t.Helper()
	ctx := t.Context()
	u, err := accounts.NewStore(a.env.Pool).CreateUser(ctx, email, "", ownerPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.env.Pool.Exec(ctx, `INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)`, org, u.ID, string(role)); err != nil {
		t.Fatal(err)
	}
	for _, p := range projectIDs {
		if _, err := a.env.Pool.Exec(ctx, `INSERT INTO project_access (organization_id, user_id, project_id) VALUES ($1, $2, $3)`, org, u.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	return a.env.Login(t, email, ownerPassword)
}

// browserHeaders are a browser's /track headers for a client from origin.
func browserHeaders(clientID, origin, ip string) map[string]string {
	return map[string]string{
		"Content-Type": "application/json", "openpanel-client-id": clientID, "openpanel-sdk-name": "web",
		"Origin": origin, "User-Agent": apptest.BrowserUA, "X-Forwarded-For": ip,
	}
}

// serverHeaders are a backend SDK's /track headers.
func serverHeaders(clientID, secret string) map[string]string {
	return map[string]string{
		"Content-Type": "application/json", "openpanel-client-id": clientID, "openpanel-client-secret": secret,
		"openpanel-sdk-name": "node",
	}
}

func trackEvent(name, profile string) map[string]any {
	p := map[string]any{"name": name}
	if profile != "" {
		p["profileId"] = profile
	}
	return map[string]any{"type": "track", "payload": p}
}

func (a acme) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := a.env.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func wantPage(t *testing.T, what string, p apptest.Page, status int, contains ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: status %d, want %d; body: %.400s", what, p.Status, status, p.Body)
	}
	for _, s := range contains {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("%s: page lacks %q", what, s)
		}
	}
}

func TestOrgPageAndCreatingAProject(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	c := a.owner
	p := c.Get("/o/" + a.org)
	wantPage(t, "organization page", p, 200, `data-project-id="`+a.project+`"`, "acme.com", `data-testid="new-project"`)
	if strings.Contains(p.Body, a.env.Project.ProjectID) {
		t.Fatal("the organization page lists a project of another organization")
	}
	wantPage(t, "new project form", c.Get("/o/"+a.org+"/projects/new"), 200, `data-testid="new-project-form"`, "data-timezone")

	for _, bad := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"name": {" "}, "timezone": {"UTC"}}, "a project needs a name"},
		{url.Values{"name": {"Shop"}, "timezone": {"Mars/Olympus"}}, "unknown timezone"},
		{url.Values{"name": {"Shop"}, "timezone": {"UTC"}, "domains": {"shop.test\nbad domain"}}, "invalid domain"},
	} {
		wantPage(t, fmt.Sprint("create ", bad.form), c.Post("/o/"+a.org+"/projects", bad.form), http.StatusBadRequest, bad.want)
	}
	if n := a.count(t, `SELECT count(*) FROM projects WHERE organization_id = $1`, a.org); n != 1 {
		t.Fatalf("%d projects after refused forms, want 1", n)
	}

	p = c.Post("/o/"+a.org+"/projects", url.Values{"name": {"Shop"}, "timezone": {"America/New_York"}, "domains": {"https://www.Shop.test/, *.shop.test"}})
	if p.Status != http.StatusSeeOther || !regexp.MustCompile(`^/p/shop-[0-9a-f]{8}/tracking$`).MatchString(p.Location) {
		t.Fatalf("create project: %d to %q", p.Status, p.Location)
	}
	shop := strings.TrimSuffix(strings.TrimPrefix(p.Location, "/p/"), "/tracking")
	var org, tz string
	var domains []string
	if err := a.env.Pool.QueryRow(t.Context(), `SELECT organization_id, timezone, domains FROM projects WHERE id = $1`, shop).Scan(&org, &tz, &domains); err != nil {
		t.Fatal(err)
	}
	if org != a.org || tz != "America/New_York" || strings.Join(domains, ",") != "shop.test,*.shop.test" {
		t.Fatalf("created project: org %q tz %q domains %v", org, tz, domains)
	}
	if n := a.count(t, `SELECT count(*) FROM clients WHERE project_id = $1 AND type = 'write' AND secret_hash LIKE '$argon2id$%'`, shop); n != 1 {
		t.Fatalf("the new project has %d default write clients", n)
	}
	// The creator sees it at once, with the flash.
	wantPage(t, "settings of the new project", c.Get("/p/"+shop+"/settings"), 200, `value="Shop"`, "Project “Shop” created")
	wantPage(t, "organization page after", c.Get("/o/"+a.org), 200, `data-project-id="`+shop+`"`)
}

func TestSettingsValidateEverythingAndChangeNothingOnError(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	c := a.owner
	path := "/p/" + a.project + "/settings"
	wantPage(t, "settings", c.Get(path), 200, `data-testid="settings-form"`, `value="acme.com"`, "Europe/Berlin", `data-testid="tab-clients"`)
	good := url.Values{"name": {"Acme Shop"}, "timezone": {"Asia/Tokyo"}, "domains": {"acme.com\nshop.acme.test"}, "browser_revenue": {"1"}}
	for _, bad := range []struct {
		field, value, want string
	}{
		{"name", "", "a project needs a name"},
		{"timezone", "Mars/Olympus", "unknown timezone"},
		{"domains", "acme.com\nnot a domain", "invalid domain"},
		{"domains", "acme.com, <script>", "invalid domain"},
	} {
		form := url.Values{}
		for k, v := range good {
			form[k] = v
		}
		form.Set(bad.field, bad.value)
		p := c.Post(path, form)
		wantPage(t, "settings with bad "+bad.field, p, http.StatusBadRequest, bad.want, `data-testid="form-error"`)
		if strings.Contains(p.Body, "<script>") {
			t.Fatal("the bad domain was not escaped")
		}
	}
	var name, tz string
	var domains []string
	var revenue bool
	load := func() {
		if err := a.env.Pool.QueryRow(t.Context(), `SELECT name, timezone, domains, allow_browser_revenue FROM projects WHERE id = $1`, a.project).
			Scan(&name, &tz, &domains, &revenue); err != nil {
			t.Fatal(err)
		}
	}
	load()
	if name != "acme.com" || tz != "Europe/Berlin" || strings.Join(domains, ",") != "acme.com" || revenue {
		t.Fatalf("a refused form changed the project: %q %q %v %v", name, tz, domains, revenue)
	}
	p := c.Post(path, good)
	if p.Status != http.StatusSeeOther || p.Location != path {
		t.Fatalf("save: %d %q", p.Status, p.Location)
	}
	load()
	if name != "Acme Shop" || tz != "Asia/Tokyo" || strings.Join(domains, ",") != "acme.com,shop.acme.test" || !revenue {
		t.Fatalf("saved: %q %q %v %v", name, tz, domains, revenue)
	}
	wantPage(t, "settings after save", c.Get(path), 200, "Settings saved.", `value="Acme Shop"`, "checked")
	// Unchecking the box turns revenue from browsers off.
	delete(good, "browser_revenue")
	c.Post(path, good)
	load()
	if revenue {
		t.Fatal("unchecking browser revenue kept it on")
	}
}

func TestDomainChangeAppliesToBrowserIngestAtOnce(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	from := func(origin string) int {
		return a.env.Track(t, trackEvent("screen_view", ""), browserHeaders(a.clientID, origin, "81.2.69.10")).Status
	}
	// Both answers are now cached by ingest.
	if s := from("https://acme.com"); s != 200 {
		t.Fatalf("allowed origin: %d", s)
	}
	if s := from("https://newsite.test"); s != http.StatusUnauthorized {
		t.Fatalf("origin not allowed yet: %d", s)
	}
	p := a.owner.Post("/p/"+a.project+"/settings", url.Values{"name": {"acme.com"}, "timezone": {"UTC"}, "domains": {"newsite.test"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save domains: %d %.300s", p.Status, p.Body)
	}
	if s := from("https://newsite.test"); s != 200 {
		t.Fatalf("newly allowed origin right after the change: %d, want 200", s)
	}
	if s := from("https://acme.com"); s != http.StatusUnauthorized {
		t.Fatalf("removed origin right after the change: %d, want 401", s)
	}
}

var (
	secretRe   = regexp.MustCompile(`data-testid="client-secret">(sec_[0-9a-f]{20})<`)
	clientIDRe = regexp.MustCompile(`data-testid="client-id">([0-9a-f-]{36})<`)
)

func TestClientSecretIsShownOnceAndRevokingStopsItAtOnce(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	c := a.owner
	clients := "/p/" + a.project + "/settings/clients"
	wantPage(t, "clients page", c.Get(clients), 200, `data-client-id="`+a.clientID+`"`, `data-testid="new-client-form"`)

	wantPage(t, "client without a name", c.Post("/p/"+a.project+"/clients", url.Values{"name": {""}, "type": {"write"}}), 400, "a client needs a name")
	wantPage(t, "client of a bad type", c.Post("/p/"+a.project+"/clients", url.Values{"name": {"x"}, "type": {"god"}}), 400, "unknown client type")

	p := c.Post("/p/"+a.project+"/clients", url.Values{"name": {"Backend"}, "type": {"write"}})
	wantPage(t, "create client", p, 200, `data-testid="client-created"`, "shown only this once")
	sm, im := secretRe.FindStringSubmatch(p.Body), clientIDRe.FindStringSubmatch(p.Body)
	if sm == nil || im == nil {
		t.Fatalf("the page shows no secret or id: %.2000s", p.Body)
	}
	secret, id := sm[1], im[1]

	var hash string
	if err := a.env.Pool.QueryRow(t.Context(), `SELECT secret_hash FROM clients WHERE id = $1 AND project_id = $2 AND type = 'write'`, id, a.project).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, secret) || !projects.CheckSecret(secret, hash) {
		t.Fatalf("stored %q: want only an argon2id hash of the secret", hash)
	}
	if n := a.count(t, `SELECT count(*) FROM auth.sessions WHERE position($1::bytea IN data) > 0`, []byte(secret)); n != 0 {
		t.Fatal("the secret was put into the login session")
	}

	track := func() int {
		return a.env.Track(t, trackEvent("invoice_paid", "u1"), serverHeaders(id, secret)).Status
	}
	if s := track(); s != 200 {
		t.Fatalf("ingest with the new client: %d", s)
	}
	if s := a.env.Track(t, trackEvent("invoice_paid", "u1"), serverHeaders(id, "sec_00000000000000000000")).Status; s != http.StatusUnauthorized {
		t.Fatalf("ingest with a wrong secret: %d", s)
	}
	list := c.Get(clients)
	wantPage(t, "clients page after", list, 200, `data-client-id="`+id+`"`, "Backend")
	if strings.Contains(list.Body, secret) {
		t.Fatal("the clients page shows the secret again")
	}

	if p := c.Post("/p/"+a.project+"/clients/"+id+"/revoke", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", p.Status)
	}
	if s := track(); s != http.StatusUnauthorized {
		t.Fatalf("ingest right after revoking: %d, want 401", s)
	}
	list = c.Get(clients)
	row := regexp.MustCompile(`(?s)data-client-id="` + id + `".*?</tr>`).FindString(list.Body)
	if !strings.Contains(row, "revoked") || strings.Contains(row, `data-testid="revoke-client"`) {
		t.Fatalf("revoked client row: %s", row)
	}
	// The project's other client still works.
	if s := a.env.Track(t, trackEvent("screen_view", ""), browserHeaders(a.clientID, "https://acme.com", "81.2.69.11")).Status; s != 200 {
		t.Fatalf("the default client after revoking another: %d", s)
	}

	// A root client lives in the project too: it can send events there.
	p = c.Post("/p/"+a.project+"/clients", url.Values{"name": {"Ops"}, "type": {"root"}})
	sm, im = secretRe.FindStringSubmatch(p.Body), clientIDRe.FindStringSubmatch(p.Body)
	if p.Status != 200 || sm == nil || im == nil {
		t.Fatalf("create root client: %d", p.Status)
	}
	if s := a.env.Track(t, trackEvent("deploy", ""), serverHeaders(im[1], sm[1])).Status; s != 200 {
		t.Fatalf("ingest with a root client: %d", s)
	}
	if n := a.count(t, `SELECT count(*) FROM events WHERE project_id = $1 AND name = 'deploy'`, a.project); n != 1 {
		t.Fatalf("the root client's event: %d stored in the project", n)
	}
}

func TestTrafficFilterAppliesToIngestAtOnce(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	c := a.owner
	sent := 0
	send := func(name string) {
		t.Helper()
		sent++ // a new visitor each time: an identical request would be taken for a retry
		if s := a.env.Track(t, trackEvent(name, ""), browserHeaders(a.clientID, "https://acme.com", fmt.Sprintf("81.2.69.%d", sent))).Status; s != 200 {
			t.Fatalf("track %s: %d", name, s)
		}
	}
	stored := func(name string) int {
		return a.count(t, `SELECT count(*) FROM events WHERE project_id = $1 AND name = $2`, a.project, name)
	}
	send("debug_ping") // the client and its (empty) filters are cached now
	if stored("debug_ping") != 1 {
		t.Fatal("the unfiltered event was not stored")
	}
	filters := "/p/" + a.project + "/settings/filters"
	wantPage(t, "filters page", c.Get(filters), 200, `data-testid="no-filters"`, `data-testid="new-filter-form"`)
	for _, bad := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"kind": {"ip"}, "value": {"not-an-ip"}}, "is not an IP address"},
		{url.Values{"kind": {"event"}, "field": {"password"}, "value": {"x"}}, "cannot filter on"},
		{url.Values{"kind": {"event"}, "op": {"regex"}, "value": {"x"}}, "unknown operator"},
		{url.Values{"kind": {"magic"}, "value": {"x"}}, "unknown filter kind"},
		{url.Values{"kind": {"profile"}, "value": {" "}}, "a filter needs a value"},
	} {
		wantPage(t, fmt.Sprint("filter ", bad.form), c.Post("/p/"+a.project+"/filters", bad.form), http.StatusBadRequest, bad.want)
	}
	if n := a.count(t, `SELECT count(*) FROM project_filters`); n != 0 {
		t.Fatalf("%d filters stored from refused forms", n)
	}
	for _, form := range []url.Values{
		{"kind": {"event"}, "field": {""}, "op": {""}, "value": {"debug_*"}},
		{"kind": {"ip"}, "value": {"203.0.113.7"}},
		{"kind": {"event"}, "field": {"properties.env"}, "op": {"is"}, "value": {"staging"}},
	} {
		if p := c.Post("/p/"+a.project+"/filters", form); p.Status != http.StatusSeeOther || p.Location != filters {
			t.Fatalf("add filter %v: %d %.300s", form, p.Status, p.Body)
		}
	}
	page := c.Get(filters)
	wantPage(t, "filters page after", page, 200, "debug_*", "203.0.113.7/32", "properties.env", "Filter added")
	send("debug_ping")
	send("signup")
	if stored("debug_ping") != 1 || stored("signup") != 1 {
		t.Fatalf("right after adding the filter: debug_ping %d (want 1), signup %d (want 1)", stored("debug_ping"), stored("signup"))
	}
	// Removing it lets the events through again, at once.
	var fid int64
	if err := a.env.Pool.QueryRow(t.Context(), `SELECT id FROM project_filters WHERE value = 'debug_*'`).Scan(&fid); err != nil {
		t.Fatal(err)
	}
	if p := c.Post(fmt.Sprintf("/p/%s/filters/%d/delete", a.project, fid), url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("remove filter: %d", p.Status)
	}
	send("debug_ping")
	if stored("debug_ping") != 2 {
		t.Fatal("the event was still filtered right after removing the filter")
	}
	if p := c.Post(fmt.Sprintf("/p/%s/filters/%d/delete", a.project, fid), url.Values{}); p.Status != http.StatusNotFound {
		t.Fatalf("removing a removed filter: %d, want 404", p.Status)
	}
}

func TestDeletingAProjectRemovesItsData(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	c := a.owner
	// Some data: events, sessions, profiles, groups, a filter, a grant.
	p := c.Post("/p/"+a.project+"/clients", url.Values{"name": {"Backend"}, "type": {"write"}})
	sm, im := secretRe.FindStringSubmatch(p.Body), clientIDRe.FindStringSubmatch(p.Body)
	if sm == nil || im == nil {
		t.Fatalf("create client: %d", p.Status)
	}
	h := serverHeaders(im[1], sm[1])
	for _, body := range []map[string]any{
		{"type": "identify", "payload": map[string]any{"profileId": "u1", "firstName": "Ada"}},
		trackEvent("signup", "u1"),
		{"type": "group", "payload": map[string]any{"id": "g1", "type": "company", "name": "G"}},
	} {
		if res := a.env.Track(t, body, h); res.Status != 200 {
			t.Fatalf("track %v: %d %s", body, res.Status, res.Body)
		}
	}
	if res := a.env.Track(t, trackEvent("screen_view", ""), browserHeaders(a.clientID, "https://acme.com", "81.2.69.13")); res.Status != 200 {
		t.Fatalf("browser event: %d", res.Status)
	}
	c.Post("/p/"+a.project+"/filters", url.Values{"kind": {"profile"}, "value": {"qa"}})
	a.addUser(t, "viewer@acme.test", a.org, accounts.Viewer, a.project)
	tables := []string{"events", "sessions", "session_heads", "profiles", "profile_identities", "profile_merges", "groups", "clients", "project_filters", "project_access"}
	for _, must := range []string{"events", "sessions", "profiles", "groups", "clients", "project_filters", "project_access"} {
		if a.count(t, `SELECT count(*) FROM `+must+` WHERE project_id = $1`, a.project) == 0 {
			t.Fatalf("test setup: no %s rows", must)
		}
	}
	otherClients := a.count(t, `SELECT count(*) FROM clients WHERE project_id = $1`, a.env.Project.ProjectID)

	del := "/p/" + a.project + "/settings/delete"
	wantPage(t, "delete page", c.Get(del), 200, `data-testid="delete-form"`, "2 API clients", "1 traffic filter;", "1 member or viewer")
	wantPage(t, "delete with the wrong name", c.Post("/p/"+a.project+"/delete", url.Values{"confirm": {"acme"}}), 400, "does not match")
	if a.count(t, `SELECT count(*) FROM projects WHERE id = $1`, a.project) != 1 {
		t.Fatal("the wrong name deleted the project")
	}
	p = c.Post("/p/"+a.project+"/delete", url.Values{"confirm": {"acme.com"}})
	if p.Status != http.StatusSeeOther || p.Location != "/o/"+a.org {
		t.Fatalf("delete: %d %q", p.Status, p.Location)
	}
	wantPage(t, "organization after delete", c.Get(p.Location), 200, "and all its data were deleted", `data-testid="no-projects"`)
	if s := c.Get("/p/" + a.project + "/settings").Status; s != http.StatusNotFound {
		t.Fatalf("settings of the deleted project: %d", s)
	}
	for _, table := range tables {
		if n := a.count(t, `SELECT count(*) FROM `+table+` WHERE project_id = $1`, a.project); n != 0 {
			t.Errorf("%d %s rows left of the deleted project", n, table)
		}
	}
	if a.count(t, `SELECT count(*) FROM clients WHERE project_id = $1`, a.env.Project.ProjectID) != otherClients {
		t.Fatal("deleting a project touched another project's clients")
	}
	// Its clients are refused at once.
	if res := a.env.Track(t, trackEvent("signup", "u1"), h); res.Status != http.StatusUnauthorized {
		t.Fatalf("ingest for the deleted project: %d, want 401", res.Status)
	}
	// The other organization's project is untouched and still ingests.
	if res := a.env.Track(t, trackEvent("signup", ""), a.env.ServerHeaders()); res.Status != 200 {
		t.Fatalf("other project after the delete: %d", res.Status)
	}
}

func TestSettingsAreForAdminsOfTheProjectsOrganization(t *testing.T) {
	t.Parallel()
	a := startAcme(t)
	ctx := t.Context()
	other := a.env.Project // another organization's project
	var otherOrg string
	if err := a.env.Pool.QueryRow(ctx, `SELECT organization_id FROM projects WHERE id = $1`, other.ProjectID).Scan(&otherOrg); err != nil {
		t.Fatal(err)
	}
	otherFilter, err := projects.NewStore(a.env.Pool).AddFilter(ctx, other.ProjectID, projects.Filter{Kind: "profile", Value: "x"})
	if err != nil {
		t.Fatal(err)
	}
	// A second Acme project nobody was granted.
	shop, err := projects.NewStore(a.env.Pool).CreateIn(ctx, a.org, projects.NewProject{Name: "Shop"})
	if err != nil {
		t.Fatal(err)
	}

	pp := "/p/" + a.project
	adminOnly := []struct{ method, path string }{
		{"GET", pp + "/settings"}, {"POST", pp + "/settings"},
		{"GET", pp + "/settings/clients"}, {"POST", pp + "/clients"}, {"POST", pp + "/clients/" + a.clientID + "/revoke"},
		{"GET", pp + "/settings/filters"}, {"POST", pp + "/filters"}, {"POST", pp + "/filters/1/delete"},
		{"GET", pp + "/settings/delete"}, {"POST", pp + "/delete"},
		{"GET", "/o/" + a.org + "/projects/new"}, {"POST", "/o/" + a.org + "/projects"},
	}
	form := url.Values{"name": {"hijacked"}, "confirm": {"acme.com"}, "kind": {"profile"}, "value": {"x"}, "type": {"write"}, "timezone": {"UTC"}}
	do := func(c *apptest.Client, method, path string) apptest.Page {
		if method == "GET" {
			return c.Get(path)
		}
		return c.Post(path, form)
	}
	for _, role := range []accounts.Role{accounts.Viewer, accounts.Member} {
		c := a.addUser(t, string(role)+"@acme.test", a.org, role, a.project)
		wantPage(t, string(role)+" overview", c.Get(pp+"/"), 200)
		org := c.Get("/o/" + a.org)
		wantPage(t, string(role)+" organization page", org, 200, `data-project-id="`+a.project+`"`)
		if strings.Contains(org.Body, shop.ProjectID) || strings.Contains(org.Body, `data-testid="new-project"`) {
			t.Fatalf("%s sees an ungranted project or the create button", role)
		}
		for _, r := range adminOnly {
			if p := do(c, r.method, r.path); p.Status != http.StatusForbidden {
				t.Errorf("%s %s %s: %d, want 403", role, r.method, r.path, p.Status)
			}
		}
		if p := c.Get("/p/" + shop.ProjectID + "/settings"); p.Status != http.StatusNotFound {
			t.Errorf("%s: settings of an ungranted project: %d, want 404", role, p.Status)
		}
	}
	// Owners of another organization see nothing of Acme.
	stranger := a.addUser(t, "stranger@other.test", otherOrg, accounts.Owner)
	for _, r := range append(adminOnly, struct{ method, path string }{"GET", "/o/" + a.org}) {
		if p := do(stranger, r.method, r.path); p.Status != http.StatusNotFound {
			t.Errorf("stranger %s %s: %d, want 404", r.method, r.path, p.Status)
		}
	}
	// Ids of another project through an Acme project: 404, nothing changed.
	c := a.owner
	for _, path := range []string{pp + "/clients/" + other.ClientID + "/revoke", fmt.Sprintf("%s/filters/%d/delete", pp, otherFilter.ID),
		pp + "/clients/not-a-uuid/revoke", pp + "/filters/abc/delete", pp + "/clients/" + shop.ClientID + "/revoke"} {
		if p := c.Post(path, url.Values{}); p.Status != http.StatusNotFound {
			t.Errorf("owner POST %s: %d, want 404", path, p.Status)
		}
	}
	if n := a.count(t, `SELECT count(*) FROM clients WHERE revoked_at IS NOT NULL`); n != 0 {
		t.Fatalf("%d clients revoked by refused requests", n)
	}
	if n := a.count(t, `SELECT count(*) FROM project_filters WHERE id = $1`, otherFilter.ID); n != 1 {
		t.Fatal("another project's filter was removed")
	}
	var name string
	_ = a.env.Pool.QueryRow(ctx, `SELECT name FROM projects WHERE id = $1`, a.project).Scan(&name)
	if name != "acme.com" || a.count(t, `SELECT count(*) FROM projects`) != 3 {
		t.Fatalf("refused requests changed projects (name %q)", name)
	}
	// The admin role is enough.
	admin := a.addUser(t, "admin@acme.test", a.org, accounts.Admin)
	wantPage(t, "admin settings", admin.Get(pp+"/settings"), 200, `data-testid="settings-form"`)
	wantPage(t, "admin clients", admin.Get(pp+"/settings/clients"), 200, `data-client-id="`+a.clientID+`"`)
}
