package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tally/app/accounts"
)

// TestSecretsNeverLeak walks through everything that handles a password, a
// client secret or a one-time link (onboarding, failed and successful
// logins, a password change, an invitation, a new client) and then checks
// that none of those values is in the server's logs (at debug level), in any
// page shown after the moment of creation, in the login sessions, or stored
// in the clear.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	tm := startTeam(t)
	env := tm.env
	secrets := map[string]string{"owner password": teamPW}

	// Failed and successful logins.
	c := env.NewClient(t)
	wrong := "wrong-password-" + "x9q"
	secrets["wrong password"] = wrong
	if p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {wrong}}); p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d", p.Status)
	}
	c = env.Login(t, "owner@acme.test", teamPW)

	// A password change, with a wrong current password first.
	newPW := "brand new password 42"
	secrets["new password"] = newPW
	if p := c.Post("/account/password", url.Values{"current": {wrong}, "new": {newPW}}); p.Status < 400 || p.Status >= 500 {
		t.Fatalf("password change with a wrong current password: %d", p.Status)
	} else if strings.Contains(p.Body, wrong) || strings.Contains(p.Body, newPW) {
		t.Fatal("the password form echoes passwords back")
	}
	if p := c.Post("/account/password", url.Values{"current": {teamPW}, "new": {newPW}}); p.Status >= 400 {
		t.Fatalf("password change: %d %s", p.Status, p.Body)
	}

	// An invitation: its link is shown once, to the admin who made it.
	invitePath := tm.invite(t, c, "newbie@acme.test", "member", tm.p1)
	secrets["invitation token"] = strings.TrimPrefix(invitePath, "/invite/")
	joinPW := "joiner password 77"
	secrets["joiner password"] = joinPW
	j := env.NewClient(t)
	if p := j.Post(invitePath, url.Values{"name": {"Newbie"}, "password": {joinPW}}); p.Status != http.StatusSeeOther {
		t.Fatalf("accept: %d %s", p.Status, p.Body)
	}

	// A client: its secret is shown once.
	p := c.Post("/p/"+tm.p1+"/clients", url.Values{"name": {"Backend"}, "type": {"write"}})
	m := secretRe.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no secret shown: %d", p.Status)
	}
	secrets["client secret"] = m[1]

	// The login session's token is stored only as a hash.
	base, _ := url.Parse(env.URL)
	found := false
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		if ck.Name != "tally_session" {
			continue
		}
		found = true
		var plain, hashed int
		sum := sha256.Sum256([]byte(ck.Value))
		_ = env.Pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE token = $1), count(*) FILTER (WHERE token = $2) FROM auth.sessions`,
			ck.Value, hex.EncodeToString(sum[:])).Scan(&plain, &hashed)
		if plain != 0 || hashed != 1 {
			t.Errorf("session token stored in the clear (%d) or not under its hash (%d)", plain, hashed)
		}
	}
	if !found {
		t.Fatal("the client has no session cookie")
	}

	// Pages after creation.
	var pages strings.Builder
	for _, path := range []string{"/p/" + tm.p1 + "/settings/clients", "/p/" + tm.p1 + "/tracking", "/o/" + tm.org + "/members", "/account", "/p/" + tm.p1 + "/settings"} {
		pg := c.Get(path)
		if pg.Status != 200 {
			t.Fatalf("GET %s: %d", path, pg.Status)
		}
		pages.WriteString(pg.Body)
	}
	logs := env.Logs.String()
	if !strings.Contains(logs, "login failed") {
		t.Fatalf("the log capture is not working: %q", logs)
	}
	var sessions string
	_ = env.Pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(encode(data, 'escape'), ' '), '') FROM auth.sessions`).Scan(&sessions)
	var stored string
	_ = env.Pool.QueryRow(t.Context(), `SELECT concat_ws(' ',
		(SELECT string_agg(password_hash, ' ') FROM users),
		(SELECT string_agg(secret_hash, ' ') FROM clients),
		(SELECT string_agg(encode(token_hash, 'hex'), ' ') FROM invitations))`).Scan(&stored)
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the %s is in the server's logs", what)
		}
		if strings.Contains(pages.String(), s) {
			t.Errorf("the %s is shown on a page after its creation", what)
		}
		if strings.Contains(sessions, s) {
			t.Errorf("the %s is in a login session", what)
		}
		if strings.Contains(stored, s) {
			t.Errorf("the %s is stored in the clear", what)
		}
	}
	for _, email := range []string{"owner@acme.test", "newbie@acme.test"} {
		var hash string
		if err := env.Pool.QueryRow(t.Context(), `SELECT password_hash FROM users WHERE email = $1`, email).Scan(&hash); err != nil || !strings.HasPrefix(hash, "$argon2id$") {
			t.Errorf("%s's password is stored as %q (%v), want an argon2id hash", email, hash, err)
		}
	}
	// The new password works, the old one not.
	if _, err := accounts.NewStore(env.Pool).Authenticate(t.Context(), "owner@acme.test", newPW); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
}
