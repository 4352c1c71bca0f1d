package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"tally/app/accounts"
	"tally/app/apptest"
	"tally/app/projects"
)

const teamPW = "team password 1"

// team is a server with an onboarded owner of Acme, whose projects are
// acme.com (p1) and Second (p2).
type team struct {
	env     *apptest.Env
	owner   *apptest.Client
	org     string
	p1, p2  string
	foreign string // a project of another organization
}

func startTeam(t *testing.T) team {
	t.Helper()
	env := startEmpty(t)
	owner, next := env.Onboard(t, "owner@acme.test", teamPW)
	tm := team{env: env, owner: owner, p1: strings.Split(next, "/")[2]}
	ctx := t.Context()
	if err := env.Pool.QueryRow(ctx, `SELECT organization_id FROM projects WHERE id = $1`, tm.p1).Scan(&tm.org); err != nil {
		t.Fatal(err)
	}
	c, err := projects.NewStore(env.Pool).Create(ctx, projects.NewProject{Organization: "Acme", Name: "Second"})
	if err != nil || c.OrganizationID != tm.org {
		t.Fatalf("second project: %v (org %q, want %q)", err, c.OrganizationID, tm.org)
	}
	tm.p2 = c.ProjectID
	if c, err = projects.NewStore(env.Pool).Create(ctx, projects.NewProject{Organization: "Elsewhere", Name: "Foreign"}); err != nil {
		t.Fatal(err)
	}
	tm.foreign = c.ProjectID
	return tm
}

var inviteLinkRE = regexp.MustCompile(`data-testid="invite-link">([^<]+)<`)

// invite creates an invitation as c and returns the path of its link.
func (tm team) invite(t *testing.T, c *apptest.Client, email, role string, projectIDs ...string) string {
	t.Helper()
	p := c.Post("/o/"+tm.org+"/invitations", url.Values{"email": {email}, "role": {role}, "project": projectIDs})
	if p.Status != http.StatusOK {
		t.Fatalf("invite %s as %s: %d %s", email, role, p.Status, p.Body)
	}
	m := inviteLinkRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("the invitation page shows no link: %s", p.Body)
	}
	link := html.UnescapeString(m[1])
	if !strings.HasPrefix(link, tm.env.URL+"/invite/") {
		t.Fatalf("invite link %q is not on %s", link, tm.env.URL)
	}
	if again := c.Get("/o/" + tm.org + "/members"); strings.Contains(again.Body, link) {
		t.Fatal("the invitation link is shown again on the members page")
	}
	return strings.TrimPrefix(link, tm.env.URL)
}

// join accepts an invitation as a new user and returns their client.
func (tm team) join(t *testing.T, path, name string) *apptest.Client {
	t.Helper()
	c := tm.env.NewClient(t)
	p := c.Post(path, url.Values{"name": {name}, "password": {teamPW}})
	if p.Status != http.StatusSeeOther || p.Location != "/o/"+tm.org {
		t.Fatalf("accept %s: %d %q %s", path, p.Status, p.Location, p.Body)
	}
	return c
}

// addMember invites email with role (and grants) and accepts as a new user.
func (tm team) addMember(t *testing.T, email, role string, projectIDs ...string) (*apptest.Client, uuid.UUID) {
	t.Helper()
	c := tm.join(t, tm.invite(t, tm.owner, email, role, projectIDs...), strings.Split(email, "@")[0])
	u, err := accounts.NewStore(tm.env.Pool).UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return c, u.ID
}

func (tm team) role(t *testing.T, userID uuid.UUID) string {
	t.Helper()
	var role string
	err := tm.env.Pool.QueryRow(t.Context(), `SELECT coalesce((SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2), '')`, tm.org, userID).Scan(&role)
	if err != nil {
		t.Fatal(err)
	}
	return role
}

func (tm team) owners(t *testing.T) int {
	t.Helper()
	var n int
	if err := tm.env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'`, tm.org).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func status(t *testing.T, what string, p apptest.Page, want int, contains ...string) {
	t.Helper()
	if p.Status != want {
		t.Fatalf("%s: status %d, want %d (location %q)\n%s", what, p.Status, want, p.Location, p.Body)
	}
	for _, s := range contains {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("%s: the page lacks %q\n%s", what, s, p.Body)
		}
	}
}

func TestCreateOrganizationsAndSwitchBetweenThem(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	c := tm.owner
	status(t, "orgs page", c.Get("/orgs"), 200, `data-testid="create-org-form"`, ">Acme<")
	status(t, "empty name", c.Post("/orgs", url.Values{"name": {"  "}}), 400, "needs a name")

	p := c.Post("/orgs", url.Values{"name": {"Beta <Labs>"}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/o/") {
		t.Fatalf("create: %d %q", p.Status, p.Location)
	}
	beta := strings.TrimPrefix(p.Location, "/o/")
	list := c.Get("/orgs")
	status(t, "orgs after create", list, 200, "Organization Beta &lt;Labs&gt; created", `data-org-id="`+beta+`"`, `data-org-id="`+tm.org+`"`)
	if strings.Count(list.Body, `data-testid="org-row"`) != 2 || strings.Count(list.Body, ">owner<") != 2 {
		t.Fatalf("the user should own two organizations:\n%s", list.Body)
	}

	// Each organization's pages are its own: name, members, projects.
	status(t, "Beta members", c.Get("/o/"+beta+"/members"), 200, "<h1>Beta &lt;Labs&gt;</h1>", "owner@acme.test", `href="/o/`+beta+`/members"`)
	status(t, "Acme members", c.Get("/o/"+tm.org+"/members"), 200, "<h1>Acme</h1>", `href="/o/`+tm.org+`/members"`)
	status(t, "Beta settings", c.Get("/o/"+beta+"/settings"), 200, `value="Beta &lt;Labs&gt;"`)
	status(t, "rename", c.Post("/o/"+beta+"/settings", url.Values{"name": {"Beta"}}), 303)
	status(t, "renamed", c.Get("/o/"+beta+"/members"), 200, "<h1>Beta</h1>", "Organization renamed.")
	status(t, "rename empty", c.Post("/o/"+beta+"/settings", url.Values{"name": {""}}), 400, "needs a name")

	// Someone else is not in Beta: 404 for all of it.
	other, _ := tm.addMember(t, "other@acme.test", "member")
	for _, path := range []string{"/o/" + beta + "/members", "/o/" + beta + "/settings"} {
		status(t, "outsider "+path, other.Get(path), 404)
	}
	status(t, "outsider leave", other.Post("/o/"+beta+"/leave", url.Values{}), 404)
	if n := strings.Count(other.Get("/orgs").Body, `data-testid="org-row"`); n != 1 {
		t.Fatalf("the member sees %d organizations, want 1", n)
	}
}

func TestInvitedNewUserSeesOnlyGrantedProjects(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	path := tm.invite(t, tm.owner, "Newbie@Acme.test", "member", tm.p1)
	members := tm.owner.Get("/o/" + tm.org + "/members")
	status(t, "pending", members, 200, `data-testid="invitation-row" data-email="newbie@acme.test"`)

	anon := tm.env.NewClient(t)
	page := anon.Get(path)
	status(t, "invite page", page, 200, `data-testid="signup-form"`, "newbie@acme.test", `data-testid="invite-org">Acme<`, `data-testid="invite-role">member<`, "Olivia Owner")
	if page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("the invitation page may leak its token in Referer headers")
	}
	status(t, "short password", anon.Post(path, url.Values{"name": {"Nina"}, "password": {"short"}}), 400, "at least 8 characters", `value="Nina"`)

	nina := tm.join(t, path, "Nina")
	status(t, "welcome", nina.Get("/o/"+tm.org+"/members"), 200, "Welcome to Acme.", "newbie@acme.test")
	status(t, "granted project", nina.Get("/p/"+tm.p1+"/realtime"), 200)
	status(t, "other project", nina.Get("/p/"+tm.p2+"/realtime"), 404)
	status(t, "project settings", nina.Get("/p/"+tm.p1+"/settings"), 403)
	status(t, "invite as member", nina.Post("/o/"+tm.org+"/invitations", url.Values{"email": {"x@acme.test"}, "role": {"viewer"}}), 403)
	status(t, "org settings as member", nina.Get("/o/"+tm.org+"/settings"), 403)
	if members := nina.Get("/o/" + tm.org + "/members"); strings.Contains(members.Body, `data-testid="invite-form"`) || strings.Contains(members.Body, "Second") {
		t.Fatal("a member sees the invite form or a project not granted to them")
	}

	// The link was used: it opens nothing now, for anyone.
	status(t, "used link", tm.env.NewClient(t).Get(path), 404, `data-testid="invite-invalid"`)
	status(t, "used link POST", tm.env.NewClient(t).Post(path, url.Values{"name": {"X"}, "password": {teamPW}}), 404)
	status(t, "used link as member", nina.Post(path, url.Values{}), 404)
	status(t, "no longer pending", tm.owner.Get("/o/"+tm.org+"/members"), 200)
	if strings.Contains(tm.owner.Get("/o/"+tm.org+"/members").Body, `data-testid="invitation-row"`) {
		t.Fatal("the accepted invitation is still pending")
	}
	// Logging in with the new account works.
	tm.env.Login(t, "newbie@acme.test", teamPW)
	// Unknown tokens are 404 as well.
	status(t, "unknown token", anon.Get("/invite/nope"), 404)
}

func TestInvitationExpiresAndCanBeRevokedOrReplaced(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	ctx := t.Context()
	path := tm.invite(t, tm.owner, "late@acme.test", "viewer")
	if _, err := tm.env.Pool.Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'late@acme.test'`); err != nil {
		t.Fatal(err)
	}
	status(t, "expired", tm.env.NewClient(t).Get(path), 404, `data-testid="invite-invalid"`)
	status(t, "expired POST", tm.env.NewClient(t).Post(path, url.Values{"password": {teamPW}}), 404)

	// Inviting again replaces the pending invitation: the old link dies.
	first := tm.invite(t, tm.owner, "twice@acme.test", "viewer")
	second := tm.invite(t, tm.owner, "twice@acme.test", "member", tm.p2)
	status(t, "replaced link", tm.env.NewClient(t).Get(first), 404)
	status(t, "new link", tm.env.NewClient(t).Get(second), 200, `data-testid="invite-role">member<`, "Second")
	var pending int
	_ = tm.env.Pool.QueryRow(ctx, `SELECT count(*) FROM invitations WHERE email = 'twice@acme.test'`).Scan(&pending)
	if pending != 1 {
		t.Fatalf("%d invitations for one email", pending)
	}

	// Revoked: the link dies too.
	var id int64
	_ = tm.env.Pool.QueryRow(ctx, `SELECT id FROM invitations WHERE email = 'twice@acme.test'`).Scan(&id)
	status(t, "revoke", tm.owner.Post(fmt.Sprintf("/o/%s/invitations/%d/revoke", tm.org, id), url.Values{}), 303)
	status(t, "revoked link", tm.env.NewClient(t).Get(second), 404)
	status(t, "revoke again", tm.owner.Post(fmt.Sprintf("/o/%s/invitations/%d/revoke", tm.org, id), url.Values{}), 404)

	// Mistakes in the form: 400 with the reason, nothing created.
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"email": {"not-an-email"}, "role": {"member"}}, "is not an email address"},
		{url.Values{"email": {"a@acme.test"}, "role": {"owner"}}, "make them owner once they have joined"},
		{url.Values{"email": {"a@acme.test"}, "role": {"boss"}}, "unknown role"},
		{url.Values{"email": {"a@acme.test"}, "role": {"member"}, "project": {tm.foreign}}, "unknown project"},
	} {
		status(t, fmt.Sprint(tc.form), tm.owner.Post("/o/"+tm.org+"/invitations", tc.form), 400, tc.want, `data-testid="invite-form"`)
	}
	_ = tm.env.Pool.QueryRow(ctx, `SELECT count(*) FROM invitations WHERE email = 'a@acme.test'`).Scan(&pending)
	if pending != 0 {
		t.Fatal("a refused invitation was stored")
	}
}

func TestExistingUserAcceptsWhileLoggedIn(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	ctx := t.Context()
	// Dora owns another organization already.
	if _, err := accounts.NewStore(tm.env.Pool).CreateUser(ctx, "dora@other.test", "Dora", teamPW); err != nil {
		t.Fatal(err)
	}
	path := tm.invite(t, tm.owner, "dora@other.test", "admin")

	// Not logged in: the page offers to log in, and comes back after.
	anon := tm.env.NewClient(t)
	status(t, "existing account", anon.Get(path), 200, `data-testid="login-to-join"`, "/login?next=%2Finvite%2F")
	if strings.Contains(anon.Get(path).Body, `data-testid="signup-form"`) {
		t.Fatal("the page offers to create an account that exists")
	}
	status(t, "create existing", anon.Post(path, url.Values{"name": {"D"}, "password": {teamPW}}), 409, "log in instead")
	p := anon.Post("/login", url.Values{"email": {"dora@other.test"}, "password": {teamPW}, "next": {path}})
	if p.Status != http.StatusSeeOther || p.Location != path {
		t.Fatalf("login with next: %d %q", p.Status, p.Location)
	}
	status(t, "join page", anon.Get(path), 200, `data-testid="join-form"`, "dora@other.test")
	p = anon.Post(path, url.Values{})
	if p.Status != http.StatusSeeOther || p.Location != "/o/"+tm.org {
		t.Fatalf("join: %d %q", p.Status, p.Location)
	}
	dora, err := accounts.NewStore(tm.env.Pool).UserByEmail(ctx, "dora@other.test")
	if err != nil {
		t.Fatal(err)
	}
	if r := tm.role(t, dora.ID); r != "admin" {
		t.Fatalf("role %q, want admin", r)
	}
	status(t, "admin sees every project", anon.Get("/p/"+tm.p2+"/realtime"), 200)

	// A second invitation with a lower role keeps the higher one, and adds
	// its project grants.
	path = tm.invite(t, tm.owner, "dora@other.test", "viewer", tm.p1)
	status(t, "second join", anon.Post(path, url.Values{}), 303)
	if r := tm.role(t, dora.ID); r != "admin" {
		t.Fatalf("role after a viewer invitation: %q, want admin kept", r)
	}
	var grants int
	_ = tm.env.Pool.QueryRow(ctx, `SELECT count(*) FROM project_access WHERE user_id = $1`, dora.ID).Scan(&grants)
	if grants != 1 {
		t.Fatalf("grants %d, want 1", grants)
	}
}

func TestRoleRules(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	admin, _ := tm.addMember(t, "admin@acme.test", "admin")
	_, memberID := tm.addMember(t, "member@acme.test", "member", tm.p1)
	viewer, viewerID := tm.addMember(t, "viewer@acme.test", "viewer")
	owner2, owner2ID := tm.addMember(t, "owner2@acme.test", "admin")
	var ownerID uuid.UUID
	_ = tm.env.Pool.QueryRow(t.Context(), `SELECT id FROM users WHERE email = 'owner@acme.test'`).Scan(&ownerID)
	rolePath := func(id uuid.UUID) string { return "/o/" + tm.org + "/members/" + id.String() + "/role" }

	// The last owner cannot leave or step down.
	status(t, "last owner leaves", tm.owner.Post("/o/"+tm.org+"/leave", url.Values{}), 409, "at least one owner")
	status(t, "last owner demotes self", tm.owner.Post(rolePath(ownerID), url.Values{"role": {"admin"}}), 409, "at least one owner")
	status(t, "last owner removes self", tm.owner.Post("/o/"+tm.org+"/members/"+ownerID.String()+"/remove", url.Values{}), 409)

	// Admins manage members but not owners, and make no owners.
	status(t, "admin makes owner", admin.Post(rolePath(memberID), url.Values{"role": {"owner"}}), 403, "only an owner")
	status(t, "admin demotes owner", admin.Post(rolePath(ownerID), url.Values{"role": {"viewer"}}), 403, "only an owner")
	status(t, "admin removes owner", admin.Post("/o/"+tm.org+"/members/"+ownerID.String()+"/remove", url.Values{}), 403)
	status(t, "admin promotes to admin", admin.Post(rolePath(viewerID), url.Values{"role": {"admin"}}), 303)
	status(t, "admin demotes to member", admin.Post(rolePath(viewerID), url.Values{"role": {"member"}}), 303)
	status(t, "bad role", admin.Post(rolePath(viewerID), url.Values{"role": {"king"}}), 400, "unknown role")
	status(t, "unknown member", admin.Post(rolePath(uuid.New()), url.Values{"role": {"viewer"}}), 404)
	status(t, "malformed member", admin.Post("/o/"+tm.org+"/members/nope/role", url.Values{"role": {"viewer"}}), 404)
	if r := tm.role(t, memberID); r != "member" {
		t.Fatalf("member's role %q after refusals", r)
	}
	status(t, "viewer changes roles", viewer.Post(rolePath(memberID), url.Values{"role": {"viewer"}}), 403)

	// The owner makes a second owner; then either may step down, not both.
	status(t, "owner makes owner", tm.owner.Post(rolePath(owner2ID), url.Values{"role": {"owner"}}), 303)
	members := tm.owner.Get("/o/" + tm.org + "/members")
	status(t, "members page", members, 200, `data-testid="role-select"`, `<option value="owner" selected>`)
	// Concurrent demotions of each other, several rounds: exactly one
	// succeeds each time, and an owner is always left.
	for round := 0; round < 6; round++ {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, c := range []struct {
			c      *apptest.Client
			target uuid.UUID
		}{{tm.owner, owner2ID}, {owner2, ownerID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = rawPost(tm.env.URL, c.c, rolePath(c.target), url.Values{"role": {"admin"}})
			}()
		}
		wg.Wait()
		ok := 0
		for _, code := range codes {
			if code == http.StatusSeeOther {
				ok++
			} else if code != http.StatusConflict && code != http.StatusForbidden {
				t.Fatalf("round %d: unexpected status %d", round, code)
			}
		}
		if n := tm.owners(t); n != 1 || ok != 1 {
			t.Fatalf("round %d: %d owners left, %d demotions succeeded (%v)", round, n, ok, codes)
		}
		if _, err := tm.env.Pool.Exec(t.Context(), `UPDATE memberships SET role = 'owner' WHERE organization_id = $1 AND user_id = ANY($2)`,
			tm.org, []uuid.UUID{ownerID, owner2ID}); err != nil {
			t.Fatal(err)
		}
	}
	// With two owners one may leave; then the other is the last.
	status(t, "second owner leaves", owner2.Post("/o/"+tm.org+"/leave", url.Values{}), 303)
	status(t, "left", owner2.Get("/o/"+tm.org+"/members"), 404)
	status(t, "last owner again", tm.owner.Post("/o/"+tm.org+"/leave", url.Values{}), 409)
}

// rawPost submits a form from a goroutine (apptest's client fails the test
// from its own goroutine only) and returns the status, 0 on error.
func rawPost(base string, c *apptest.Client, path string, form url.Values) int {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.HTTP.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func TestProjectAccessAndRemovingMembers(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	member, memberID := tm.addMember(t, "member@acme.test", "member", tm.p1)
	leaver, _ := tm.addMember(t, "leaver@acme.test", "viewer", tm.p1)
	accessPath := "/o/" + tm.org + "/members/" + memberID.String() + "/access"

	status(t, "access form", tm.owner.Get("/o/"+tm.org+"/members"), 200, `data-testid="access-form"`)
	status(t, "grant p2 only", tm.owner.Post(accessPath, url.Values{"project": {tm.p2}}), 303)
	status(t, "p1 gone", member.Get("/p/"+tm.p1+"/realtime"), 404)
	status(t, "p2 granted", member.Get("/p/"+tm.p2+"/realtime"), 200)
	status(t, "foreign project", tm.owner.Post(accessPath, url.Values{"project": {tm.p1, tm.foreign}}), 400, "unknown project")
	status(t, "p2 kept after refusal", member.Get("/p/"+tm.p2+"/realtime"), 200)
	status(t, "p1 not granted by a refusal", member.Get("/p/"+tm.p1+"/realtime"), 404)
	status(t, "member edits access", member.Post(accessPath, url.Values{"project": {tm.p1}}), 403)

	// Leaving: the member's pages of the organization are gone.
	p := leaver.Post("/o/"+tm.org+"/leave", url.Values{})
	if p.Status != http.StatusSeeOther || p.Location != "/orgs" {
		t.Fatalf("leave: %d %q", p.Status, p.Location)
	}
	status(t, "after leaving", leaver.Get("/orgs"), 200, "You left Acme.")
	status(t, "left org", leaver.Get("/o/"+tm.org+"/members"), 404)
	status(t, "left project", leaver.Get("/p/"+tm.p1+"/realtime"), 404)

	// Removed: the member's current session sees nothing of it any more.
	status(t, "member before removal", member.Get("/o/"+tm.org+"/members"), 200)
	status(t, "remove", tm.owner.Post("/o/"+tm.org+"/members/"+memberID.String()+"/remove", url.Values{}), 303)
	status(t, "removed: org", member.Get("/o/"+tm.org+"/members"), 404)
	status(t, "removed: project", member.Get("/p/"+tm.p2+"/realtime"), 404)
	var grants int
	_ = tm.env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM project_access WHERE user_id = $1`, memberID).Scan(&grants)
	if grants != 0 {
		t.Fatalf("%d grants left after removal", grants)
	}
	status(t, "owner settings as admin-less member", member.Get("/o/"+tm.org+"/settings"), 404)
}

func TestInvitationIsAcceptedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	for round := 0; round < 3; round++ {
		path := tm.invite(t, tm.owner, fmt.Sprintf("race%d@acme.test", round), "viewer", tm.p1)
		var wg sync.WaitGroup
		codes := make([]int, 3)
		for i := range codes {
			c := tm.env.NewClient(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = rawPost(tm.env.URL, c, path, url.Values{"name": {"Racer"}, "password": {teamPW}})
			}()
		}
		wg.Wait()
		ok := 0
		for _, code := range codes {
			switch code {
			case http.StatusSeeOther:
				ok++
			case http.StatusNotFound:
			default:
				t.Fatalf("round %d: status %d", round, code)
			}
		}
		var users int
		_ = tm.env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE email = $1`, fmt.Sprintf("race%d@acme.test", round)).Scan(&users)
		if ok != 1 || users != 1 {
			t.Fatalf("round %d: %d acceptances, %d accounts (%v)", round, ok, users, codes)
		}
	}
}

// An invitation carries its inviter's authority: once the admin who made it
// is removed, the link no longer works (an admin about to be removed cannot
// invite a second address of their own to come back).
func TestInvitationDiesWithItsInvitersAuthority(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	admin, adminID := tm.addMember(t, "admin@acme.test", "admin")
	link := tm.invite(t, admin, "backdoor@elsewhere.test", "admin")
	if p := tm.env.NewClient(t).Get(link); p.Status != http.StatusOK {
		t.Fatalf("the invitation before the removal: %d", p.Status)
	}
	status(t, "remove the admin", tm.owner.Post("/o/"+tm.org+"/members/"+adminID.String()+"/remove", url.Values{}), 303)
	c := tm.env.NewClient(t)
	if p := c.Get(link); p.Status != http.StatusNotFound {
		t.Fatalf("the removed admin's invitation: %d, want 404", p.Status)
	}
	if p := c.Post(link, url.Values{"name": {"Back"}, "password": {teamPW}}); p.Status != http.StatusNotFound {
		t.Fatalf("accepting the removed admin's invitation: %d, want 404", p.Status)
	}
}
