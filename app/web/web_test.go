package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tally/app/apptest"
	"tally/app/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// startEmpty starts a server whose database has no users and no projects.
func startEmpty(t *testing.T) *apptest.Env {
	t.Helper()
	return apptest.StartOn(t, dbtest.NewDB(t), false)
}

func TestFirstStartLeadsEveryURLToOnboarding(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	c := env.NewClient(t)
	for _, path := range []string{"/", "/p/anything", "/o/anything/members", "/login"} {
		p := c.Get(path)
		if p.Status != http.StatusSeeOther || p.Location != "/welcome" {
			t.Errorf("GET %s: %d to %q, want 303 to /welcome", path, p.Status, p.Location)
		}
	}
	if p := c.Get("/welcome"); p.Status != 200 || !strings.Contains(p.Body, `data-testid="welcome-form"`) {
		t.Fatalf("welcome page: %d", p.Status)
	}
}

func TestOnboardingCreatesOwnerProjectAndLogsIn(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	c, next := env.Onboard(t, "owner@acme.test", "correct horse battery")
	if !strings.HasPrefix(next, "/p/acme-com-") || !strings.HasSuffix(next, "/tracking") {
		t.Fatalf("onboarding sent the owner to %q", next)
	}
	if p := c.Get("/"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/p/acme-com-") {
		t.Fatalf("home after onboarding: %d %q", p.Status, p.Location)
	}
	// A second onboarding is refused: the server has its owner.
	other := env.NewClient(t)
	if p := other.Get("/welcome"); p.Status != http.StatusSeeOther || p.Location != "/login" {
		t.Fatalf("welcome after onboarding: %d %q", p.Status, p.Location)
	}
	p := other.Post("/welcome", url.Values{"email": {"x@y.test"}, "password": {"12345678"}, "organization": {"o"}, "project": {"p"}})
	if p.Status != http.StatusSeeOther || p.Location != "/login" {
		t.Fatalf("second onboarding: %d %q", p.Status, p.Location)
	}
	var users int
	if err := env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&users); err != nil || users != 1 {
		t.Fatalf("users = %d (%v), want 1", users, err)
	}
}

func TestOnboardingShowsMistakes(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	c := env.NewClient(t)
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"email": {"not-an-email"}, "password": {"long enough"}, "organization": {"o"}, "project": {"p"}}, "is not an email address"},
		{url.Values{"email": {"a@b.test"}, "password": {"short"}, "organization": {"o"}, "project": {"p"}}, "at least 8 characters"},
		{url.Values{"email": {"a@b.test"}, "password": {"long enough"}, "organization": {"o"}, "project": {""}}, "a project needs a name"},
		{url.Values{"email": {"a@b.test"}, "password": {"long enough"}, "organization": {"o"}, "project": {"p"}, "timezone": {"Mars/Olympus"}}, "unknown timezone"},
		{url.Values{"email": {"a@b.test"}, "password": {"long enough"}, "organization": {"o"}, "project": {"p"}, "domain": {"bad domain,x"}}, "invalid domain"},
	} {
		p := c.Post("/welcome", tc.form)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, tc.want) {
			t.Errorf("form %v: status %d, want 400 with %q", tc.form, p.Status, tc.want)
		}
		if strings.Contains(p.Body, "long enough") {
			t.Errorf("the password was echoed back into the page")
		}
	}
}

func TestLoginLogoutAndNext(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	_, tracking := env.Onboard(t, "owner@acme.test", "correct horse battery")
	next := strings.TrimSuffix(tracking, "/tracking") + "/realtime"
	c := env.NewClient(t)
	p := c.Get(next)
	if p.Status != http.StatusSeeOther || p.Location != "/login?next="+url.QueryEscape(next) {
		t.Fatalf("logged-out GET %s: %d %q", next, p.Status, p.Location)
	}
	p = c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"wrong password"}})
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "wrong email or password") {
		t.Fatalf("wrong password: %d", p.Status)
	}
	p = c.Post("/login", url.Values{"email": {"OWNER@acme.test"}, "password": {"correct horse battery"}, "next": {next}})
	if p.Status != http.StatusSeeOther || p.Location != next {
		t.Fatalf("login: %d %q", p.Status, p.Location)
	}
	cookie := p.Header.Get("Set-Cookie")
	for _, want := range []string{"tally_session=", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %q", cookie, want)
		}
	}
	if strings.Contains(cookie, "Expires") || strings.Contains(cookie, "Max-Age") {
		t.Errorf("without remember me the cookie must end with the browser: %q", cookie)
	}
	if p := c.Get(next); p.Status != 200 {
		t.Fatalf("after login GET %s: %d", next, p.Status)
	}
	// Open redirects are not followed.
	for _, evil := range []string{"//evil.test/x", "https://evil.test", "/\\evil.test", "/\t/evil.test", "/\n/evil.test", "javascript:alert(1)"} {
		c2 := env.NewClient(t)
		p := c2.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}, "next": {evil}})
		if p.Location != "/" {
			t.Errorf("next=%q redirected to %q", evil, p.Location)
		}
	}
	if p := c.Post("/logout", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.Status)
	}
	if p := c.Get(next); p.Status != http.StatusSeeOther {
		t.Fatalf("after logout GET %s: %d", next, p.Status)
	}
}

func TestRememberMeMakesThePersistentCookie(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", "correct horse battery")
	c := env.NewClient(t)
	p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}, "remember": {"1"}})
	if !strings.Contains(p.Header.Get("Set-Cookie"), "Max-Age") && !strings.Contains(p.Header.Get("Set-Cookie"), "Expires") {
		t.Fatalf("remember me: cookie %q has no lifetime", p.Header.Get("Set-Cookie"))
	}
}

func TestLoginTokenRotates(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", "correct horse battery")
	c := env.NewClient(t)
	c.Get("/login")
	// Plant a session cookie as a fixation attacker would, then log in.
	u, _ := url.Parse(env.URL)
	c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "tally_session", Value: "planted-token"}})
	p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}})
	if p.Status != http.StatusSeeOther || strings.Contains(p.Header.Get("Set-Cookie"), "planted-token") || !strings.Contains(p.Header.Get("Set-Cookie"), "tally_session=") {
		t.Fatalf("login kept or did not replace the session token: %q", p.Header.Get("Set-Cookie"))
	}
}

func TestLoginIsRateLimitedPerAccount(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", "correct horse battery")
	c := env.NewClient(t)
	for i := 0; i < 10; i++ {
		if p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"guess"}}); p.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, p.Status)
		}
	}
	// Now even the right password waits: the account is locked for a while.
	p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}})
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" || !strings.Contains(p.Body, "Too many failed logins") {
		t.Fatalf("after 10 failures: %d %q", p.Status, p.Header.Get("Retry-After"))
	}
	// The guesser cannot lock the owner out: from their own address the
	// owner still logs in.
	owner := env.NewClient(t)
	owner.Header.Set("X-Forwarded-For", "81.2.69.20")
	if p := owner.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("the owner from another address: %d", p.Status)
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", "correct horse battery")
	c := env.NewClient(t)
	c.Header.Set("Origin", "https://evil.test")
	c.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}}); p.Status != http.StatusForbidden {
		t.Fatalf("cross-site login POST: %d, want 403", p.Status)
	}
}

func TestUnknownURLIs404InTheDashboardLook(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	c, _ := env.Onboard(t, "owner@acme.test", "correct horse battery")
	p := c.Get("/no/such/page")
	if p.Status != 404 || !strings.Contains(p.Body, `data-testid="error"`) || !strings.Contains(p.Body, `data-testid="user"`) {
		t.Fatalf("404 page: %d %s", p.Status, p.Body)
	}
}

func TestSessionCookieIsSecureBehindTLS(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", "correct horse battery")
	login := func(proto string) string {
		c := env.NewClient(t)
		if proto != "" {
			c.Header.Set("X-Forwarded-Proto", proto) // the tests' loopback address is a trusted proxy
		}
		p := c.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("login: %d", p.Status)
		}
		return p.Header.Get("Set-Cookie")
	}
	if c := login("https"); !strings.Contains(c, "; Secure") {
		t.Errorf("behind a TLS proxy the cookie is not Secure: %q", c)
	}
	if c := login(""); strings.Contains(c, "Secure") {
		t.Errorf("over plain HTTP the cookie is Secure (the browser would drop it): %q", c)
	}
}

func TestLoginIsRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	env.Onboard(t, "owner@acme.test", "correct horse battery")
	sprayer := env.NewClient(t)
	sprayer.Header.Set("X-Forwarded-For", "81.2.69.7")
	for i := 0; i < 30; i++ { // a different account each time: only the IP limit applies
		p := sprayer.Post("/login", url.Values{"email": {fmt.Sprintf("user%d@acme.test", i)}, "password": {"guess"}})
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, p.Status)
		}
	}
	if p := sprayer.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}}); p.Status != http.StatusTooManyRequests {
		t.Fatalf("31st login from the spraying IP: %d, want 429", p.Status)
	}
	// Another address still logs in.
	other := env.NewClient(t)
	other.Header.Set("X-Forwarded-For", "81.2.69.8")
	if p := other.Post("/login", url.Values{"email": {"owner@acme.test"}, "password": {"correct horse battery"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("login from another IP: %d", p.Status)
	}
}

// Text PostgreSQL cannot store (NUL, invalid UTF-8) in forms and URLs is a
// clear 4xx, never a 500 (and never an error in the log).
func TestBinaryGarbageIs4xx(t *testing.T) {
	t.Parallel()
	env := startEmpty(t)
	anon := env.NewClient(t)
	if p := anon.Post("/welcome", url.Values{"email": {"a@b.test"}, "password": {"long enough"}, "organization": {"o"}, "project": {"bad\x00name"}}); p.Status != http.StatusBadRequest {
		t.Errorf("onboarding with NUL in a name: %d", p.Status)
	}
	c, _ := env.Onboard(t, "owner@acme.test", "correct horse battery")
	if p := anon.Post("/login", url.Values{"email": {"a\x00b@acme.test"}, "password": {"x"}}); p.Status != http.StatusBadRequest {
		t.Errorf("login with NUL in the email: %d", p.Status)
	}
	if p := anon.Post("/login", url.Values{"email": {"\xff\xfe@acme.test"}, "password": {"x"}}); p.Status != http.StatusBadRequest {
		t.Errorf("login with invalid UTF-8: %d", p.Status)
	}
	for _, path := range []string{"/p/%00/", "/p/%FF%FE/settings", "/o/%00", "/o/%C3%28/members", "/switch?project=%00"} {
		if p := c.Get(path); p.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, p.Status)
		}
	}
	if strings.Contains(env.Logs.String(), "level=ERROR") {
		t.Errorf("garbage input logged an error:\n%s", env.Logs.String())
	}
}
