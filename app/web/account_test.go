package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tally/app"
	"tally/app/apptest"
	"tally/app/config"
	"tally/app/dbtest"
	"tally/app/mail/mailtest"
)

func TestPasswordChangeEndsOtherSessionsButKeepsThisOne(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	c1, _ := env.Onboard(t, "owner@acme.test", teamPW)
	c2 := env.Login(t, "owner@acme.test", teamPW)
	status(t, "account page", c1.Get("/account"), 200, `data-testid="password-form"`, `data-testid="account-email">owner@acme.test<`)

	status(t, "wrong current", c1.Post("/account/password", url.Values{"current": {"nope nope"}, "new": {"brand new password"}}), 400, "the current password is wrong")
	p := c1.Post("/account/password", url.Values{"current": {teamPW}, "new": {"short"}})
	status(t, "short new", p, 400, "at least 8 characters")
	if strings.Contains(p.Body, teamPW) {
		t.Fatal("a password was echoed back into the page")
	}

	p = c1.Post("/account/password", url.Values{"current": {teamPW}, "new": {"brand new password"}})
	if p.Status != http.StatusSeeOther || p.Location != "/account" {
		t.Fatalf("change: %d %q", p.Status, p.Location)
	}
	// This session stays (re-issued, same second as the change), the
	// other one ends.
	status(t, "this session", c1.Get("/account"), 200, "Password changed.")
	if p := c2.Get("/account"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
		t.Fatalf("the other session after the change: %d %q", p.Status, p.Location)
	}
	if p := env.NewClient(t).Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {teamPW}}); p.Status != http.StatusUnauthorized {
		t.Fatalf("old password: %d", p.Status)
	}
	// A login right after the change (likely within the same second) counts.
	c3 := env.Login(t, "owner@acme.test", "brand new password")
	status(t, "new login", c3.Get("/account"), 200)

	// A second change in the same second ends c3 too, and keeps c1.
	status(t, "second change", c1.Post("/account/password", url.Values{"current": {"brand new password"}, "new": {"another new password"}}), 303)
	status(t, "c1 after the second change", c1.Get("/account"), 200)
	if p := c3.Get("/account"); p.Status != http.StatusSeeOther {
		t.Fatalf("c3 after the second change: %d", p.Status)
	}
}

// resetLinkCommand runs `tally user reset-link` against the server's database.
func resetLinkCommand(t *testing.T, env *apptest.Env, email string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := app.Main(context.Background(), []string{"user", "reset-link", "--email", email}, []string{
		"DATABASE_URL=" + env.Config.DatabaseURL, "TALLY_DATA_DIR=" + t.TempDir(), "TALLY_PUBLIC_URL=https://stats.example.com/",
		"TALLY_LOG_LEVEL=warn",
	}, &stdout, &stderr)
	return code, strings.TrimSpace(stdout.String()), stderr.String()
}

func TestResetLinkFromTheCommand(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	other, _ := env.Onboard(t, "owner@acme.test", teamPW)

	code, out, errOut := resetLinkCommand(t, env, "nobody@acme.test")
	if code == 0 || !strings.Contains(errOut, `no account has the email "nobody@acme.test"`) {
		t.Fatalf("unknown email: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, link, errOut := resetLinkCommand(t, env, "Owner@Acme.test")
	if code != 0 || !strings.HasPrefix(link, "https://stats.example.com/reset/") {
		t.Fatalf("reset-link: exit %d, %q, %s", code, link, errOut)
	}
	path := strings.TrimPrefix(link, "https://stats.example.com")

	c := env.NewClient(t)
	page := c.Get(path)
	status(t, "reset page", page, 200, `data-testid="reset-form"`, "owner@acme.test")
	if page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("the reset page may leak its token in Referer headers")
	}
	status(t, "short", c.Post(path, url.Values{"password": {"short"}}), 400, "at least 8 characters")
	p := c.Post(path, url.Values{"password": {"reset password 1"}})
	if p.Status != http.StatusSeeOther || p.Location != "/" {
		t.Fatalf("reset: %d %q %s", p.Status, p.Location, p.Body)
	}
	status(t, "logged in after reset", c.Get("/account"), 200, "Your password was changed")
	if p := other.Get("/account"); p.Status != http.StatusSeeOther {
		t.Fatalf("a session from before the reset: %d", p.Status)
	}
	if p := env.NewClient(t).Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {teamPW}}); p.Status != http.StatusUnauthorized {
		t.Fatalf("old password after reset: %d", p.Status)
	}
	env.Login(t, "owner@acme.test", "reset password 1")
	status(t, "reused link", env.NewClient(t).Get(path), 404, `data-testid="reset-invalid"`)
	status(t, "reused link POST", env.NewClient(t).Post(path, url.Values{"password": {"third password 1"}}), 404)

	// Links expire.
	_, link, _ = resetLinkCommand(t, env, "owner@acme.test")
	if _, err := env.Pool.Exec(t.Context(), `UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	status(t, "expired link", env.NewClient(t).Get(strings.TrimPrefix(link, "https://stats.example.com")), 404)
}

func TestForgotWithoutMailExplainsTheCommand(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", teamPW)
	c := env.NewClient(t)
	status(t, "forgot", c.Get("/forgot"), 200, `data-testid="forgot-no-mail"`, "go run . user reset-link --email you@example.com")
	status(t, "forgot POST", c.Post("/forgot", url.Values{"email": {"owner@acme.test"}}), 200, `data-testid="forgot-no-mail"`)
	var n int
	_ = env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM password_resets`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d reset links made without mail", n)
	}
}

var resetLinkRE = regexp.MustCompile(`https?://\S+/reset/[A-Za-z0-9_-]+`)

func TestForgotMailsAResetLink(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t, mailtest.Options{Auth: "tally:mail secret"})
	env := apptest.StartOn(t, dbtest.NewDB(t), false, func(c *config.Config) {
		c.SMTPURL = smtp.URL()
		c.MailFrom = "Tally <tally@stats.example.com>"
		c.PublicURL = "https://stats.example.com"
	})
	old, _ := env.Onboard(t, "owner@acme.test", teamPW)
	c := env.NewClient(t)
	status(t, "forgot", c.Get("/forgot"), 200, `data-testid="forgot-form"`)
	status(t, "not an email", c.Post("/forgot", url.Values{"email": {"nope"}}), 400, "is not an email address")

	known := c.Post("/forgot", url.Values{"email": {"Owner@Acme.test"}})
	unknown := env.NewClient(t).Post("/forgot", url.Values{"email": {"stranger@acme.test"}})
	status(t, "known", known, 200, `data-testid="forgot-sent"`)
	if unknown.Status != known.Status || unknown.Body != known.Body || known.Header.Get("Set-Cookie") != unknown.Header.Get("Set-Cookie") {
		t.Fatalf("the answers differ for a known and an unknown email:\n%d %s\n%d %s", known.Status, known.Body, unknown.Status, unknown.Body)
	}

	m := smtp.Wait(t, "owner@acme.test")
	if m.Subject != "Reset your tally password" || m.Auth != "tally:mail secret" || m.From != "tally@stats.example.com" {
		t.Fatalf("mail: subject %q, auth %q, from %q", m.Subject, m.Auth, m.From)
	}
	link := resetLinkRE.FindString(m.Body)
	if !strings.HasPrefix(link, "https://stats.example.com/reset/") {
		t.Fatalf("no reset link on the public URL in the mail:\n%s", m.Body)
	}
	path := strings.TrimPrefix(link, "https://stats.example.com")
	status(t, "reset page", c.Get(path), 200, `data-testid="reset-form"`)
	status(t, "reset", c.Post(path, url.Values{"password": {"mailed password 1"}}), 303)
	status(t, "logged in", c.Get("/account"), 200)
	if p := old.Get("/account"); p.Status != http.StatusSeeOther {
		t.Fatalf("the old session after a reset: %d", p.Status)
	}
	if p := env.NewClient(t).Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {teamPW}}); p.Status != http.StatusUnauthorized {
		t.Fatalf("old password: %d", p.Status)
	}
	env.Login(t, "owner@acme.test", "mailed password 1")
	status(t, "reused", env.NewClient(t).Get(path), 404)
	for _, got := range smtp.Mails() {
		if strings.Contains(strings.Join(got.To, ","), "stranger") {
			t.Fatal("a mail went to an address without an account")
		}
	}
}

func TestInvitationIsMailed(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t, mailtest.Options{})
	env := apptest.StartOn(t, dbtest.NewDB(t), false, func(c *config.Config) { c.SMTPURL = smtp.URL() })
	owner, next := env.Onboard(t, "owner@acme.test", teamPW)
	tm := team{env: env, owner: owner, p1: strings.Split(next, "/")[2]}
	_ = env.Pool.QueryRow(t.Context(), `SELECT organization_id FROM projects WHERE id = $1`, tm.p1).Scan(&tm.org)
	path := tm.invite(t, owner, "guest@acme.test", "viewer", tm.p1)
	m := smtp.Wait(t, "guest@acme.test")
	if !strings.Contains(m.Subject, "invited you to Acme") || !strings.Contains(m.Body, env.URL+path) {
		t.Fatalf("invitation mail: %q\n%s", m.Subject, m.Body)
	}
	status(t, "mailed flag", owner.Post("/o/"+tm.org+"/invitations", url.Values{"email": {"guest2@acme.test"}, "role": {"viewer"}}), 200, "We mailed this link")
	tm.join(t, path, "Guest")
}
