package tests

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tally/app/apptest"
	"tally/app/dbtest"
	"tally/app/projects"
)

// TestInviteInTheBrowser is the invitation flow as people do it: the owner
// logs in through the form and invites a member to one project, reading
// the link off the page; a second browser (an incognito context) opens
// the link, creates the account and lands in the organization; the new
// member logs out with the header button and logs back in through the
// form.
func TestInviteInTheBrowser(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)
	const ownerPW = "owner browser password"
	_, next := env.Onboard(t, "owner@browser.test", ownerPW)
	p1 := strings.Split(next, "/")[2]
	var org string
	if err := env.Pool.QueryRow(context.Background(), `SELECT organization_id FROM projects WHERE id = $1`, p1).Scan(&org); err != nil {
		t.Fatal(err)
	}
	second, err := projects.NewStore(env.Pool).Create(context.Background(), projects.NewProject{Organization: "Acme", Name: "Second"})
	if err != nil {
		t.Fatal(err)
	}

	owner := startBrowser(t, chromium)
	// The invitee's browser: a separate browser context shares no cookies.
	invitee, cancel := chromedp.NewContext(owner, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Its first Do opens its tab and binds it to this context: no timeout.
	if err := chromedp.Do(invitee); err != nil {
		t.Fatal(err)
	}
	shots := outputDir(t)
	run := func(tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	read := func(tab context.Context, what string, a chromedp.Action[string]) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	screenshot := func(tab context.Context, name string) {
		t.Helper()
		buf, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Error(err)
		}
	}
	path := func(tab context.Context) string {
		t.Helper()
		u, err := url.Parse(read(tab, "location", chromedp.Location()))
		if err != nil {
			t.Fatal(err)
		}
		return u.Path
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// 1. The owner logs in through the form.
	run(owner, "owner logs in",
		chromedp.Navigate(env.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), "owner@browser.test"),
		chromedp.SendKeys(chromedp.ID("password"), ownerPW),
		chromedp.Click(css(`[data-testid="login-form"] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid="user"]`)),
	)

	// 2. Invites a member to the second project only (the form is
	// submitted by HTMX; the link appears on the page).
	run(owner, "owner invites",
		chromedp.Navigate(env.URL+"/o/"+org+"/members"),
		chromedp.SendKeys(chromedp.ID("invite-email"), "mia@browser.test"),
		chromedp.Click(css(`[data-testid="invite-form"] input[value="`+second.ProjectID+`"]`)),
		chromedp.Click(css(`[data-testid="invite-form"] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid="invite-link"]`)),
	)
	link := strings.TrimSpace(read(owner, "invite link", chromedp.Text(css(`[data-testid="invite-link"]`))))
	if !strings.HasPrefix(link, env.URL+"/invite/") {
		t.Fatalf("invite link %q", link)
	}
	if got := path(owner); got != "/o/"+org+"/members" {
		t.Errorf("after inviting the address bar shows %q, want the members page", got)
	}
	screenshot(owner, "invite-1-members.png")

	// 3. The invitee opens the link in another browser and creates the
	// account.
	run(invitee, "open the invitation",
		chromedp.Navigate(link),
		chromedp.WaitVisible(css(`[data-testid="signup-form"]`)),
	)
	if got := read(invitee, "invitation org", chromedp.Text(css(`[data-testid="invite-org"]`))); got != "Acme" {
		t.Errorf("the invitation names %q", got)
	}
	screenshot(invitee, "invite-2-accept.png")
	run(invitee, "create the account",
		chromedp.SendKeys(chromedp.ID("name"), "Mia Member"),
		chromedp.SendKeys(chromedp.ID("password"), "mia browser password"),
		chromedp.Click(css(`[data-testid="create-account"]`)),
		chromedp.WaitVisible(css(`[data-testid="user"]`)),
	)
	if got := path(invitee); got != "/o/"+org {
		t.Fatalf("after joining the invitee is at %q, want /o/%s", got, org)
	}
	if got := read(invitee, "user", chromedp.Text(css(`[data-testid="user"]`))); got != "Mia Member" {
		t.Errorf("header shows %q", got)
	}
	// The member sees the granted project in the switcher, not the other.
	options := read(invitee, "switcher", chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#project-switcher option")).map(o => o.value).join(",")`))
	if options != second.ProjectID {
		t.Errorf("the member's projects are %q, want only %q", options, second.ProjectID)
	}
	run(invitee, "account page",
		chromedp.Navigate(env.URL+"/account"),
		chromedp.WaitVisible(css(`[data-testid="password-form"]`)),
	)
	if got := read(invitee, "account email", chromedp.Text(css(`[data-testid="account-email"]`))); got != "mia@browser.test" {
		t.Errorf("account page shows %q", got)
	}
	screenshot(invitee, "invite-3-account.png")

	// 4. Logs out with the header button and back in through the form.
	run(invitee, "log out",
		chromedp.Click(css(`[data-testid="logout"]`)),
		chromedp.WaitVisible(css(`[data-testid="login-form"]`)),
	)
	if got := path(invitee); got != "/login" {
		t.Fatalf("after logging out: %q", got)
	}
	run(invitee, "log back in",
		chromedp.SendKeys(chromedp.ID("email"), "mia@browser.test"),
		chromedp.SendKeys(chromedp.ID("password"), "mia browser password"),
		chromedp.Click(css(`[data-testid="login-form"] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid="user"]`)),
	)
	if got := path(invitee); got != "/p/"+second.ProjectID {
		t.Errorf("after logging back in: %q, want the granted project", got)
	}
	// The owner's browser is still logged in as the owner.
	if got := read(owner, "owner header", chromedp.Text(css(`[data-testid="user"]`))); got != "Olivia Owner" {
		t.Errorf("owner's header shows %q", got)
	}
}
