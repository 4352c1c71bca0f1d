package apptest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// Client is a dashboard user's HTTP client: it keeps cookies, does not
// follow redirects (tests look at them) and sends same-origin headers as a
// browser submitting the dashboard's own forms would.
type Client struct {
	t    testing.TB
	base string
	HTTP *http.Client
	// Header is added to every request (e.g. HX-Request for partials).
	Header http.Header
}

// Page is a dashboard answer.
type Page struct {
	Status   int
	Body     string
	Header   http.Header
	Location string // the redirect target, if any
}

// NewClient returns a client for the server at e.URL.
func (e *Env) NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, base: e.URL, Header: http.Header{}, HTTP: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Get fetches a dashboard path.
func (c *Client) Get(path string) Page {
	c.t.Helper()
	return c.Do(http.MethodGet, path, nil)
}

// Post submits a form as the dashboard's own page would.
func (c *Client) Post(path string, form url.Values) Page {
	c.t.Helper()
	return c.Do(http.MethodPost, path, form)
}

// Do sends a request; form may be nil.
func (c *Client) Do(method, path string, form url.Values) Page {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != http.MethodGet && method != http.MethodHead && req.Header.Get("Origin") == "" {
		req.Header.Set("Origin", c.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return Page{Status: res.StatusCode, Body: string(b), Header: res.Header, Location: res.Header.Get("Location")}
}

// Follow fetches the redirect target of p (if any) and returns that page.
func (c *Client) Follow(p Page) Page {
	c.t.Helper()
	for i := 0; i < 10 && p.Location != ""; i++ {
		u, err := url.Parse(p.Location)
		if err != nil {
			c.t.Fatal(err)
		}
		p = c.Get(u.RequestURI())
	}
	return p
}

// Onboard completes the first-start form as a newcomer would and returns
// the client logged in as the owner, and the path it was sent to.
func (e *Env) Onboard(t testing.TB, email, password string) (*Client, string) {
	t.Helper()
	c := e.NewClient(t)
	p := c.Post("/welcome", url.Values{
		"name": {"Olivia Owner"}, "email": {email}, "password": {password},
		"organization": {"Acme"}, "project": {"acme.com"}, "domain": {"acme.com"}, "timezone": {"Europe/Berlin"},
	})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("onboarding: status %d, body %s", p.Status, p.Body)
	}
	return c, p.Location
}

// Login logs a new client in.
func (e *Env) Login(t testing.TB, email, password string) *Client {
	t.Helper()
	c := e.NewClient(t)
	p := c.Post("/login", url.Values{"email": {email}, "password": {password}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("login %s: status %d, body %s", email, p.Status, p.Body)
	}
	return c
}

// Stream opens a long-lived answer (an event stream), returns its status
// and headers, and closes it without reading the body.
func (c *Client) Stream(path string) Page {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	p := Page{Status: res.StatusCode, Header: res.Header, Location: res.Header.Get("Location")}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		p.Body = string(b)
	}
	return p
}
