package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/a-h/templ"

	"tally/app/accounts"
	"tally/app/errs"
	"tally/views"
)

// HTMX request headers, named once.
const (
	hxRequest = "HX-Request"
	hxBoosted = "HX-Boosted"
	hxRedir   = "HX-Redirect"
)

// isPartial reports whether HTMX asked for a fragment (not a boosted page
// navigation, which gets the whole page).
func isPartial(r *http.Request) bool {
	return r.Header.Get(hxRequest) == "true" && r.Header.Get(hxBoosted) != "true"
}

// shell builds the frame of a page for the current user and project.
func (h *Handler) shell(w http.ResponseWriter, r *http.Request, title, section string) views.Shell {
	s := views.Shell{Title: title, Section: section, Flashes: h.popFlashes(r)}
	u, ok := currentUser(r)
	if !ok {
		return s
	}
	s.User = &views.UserLink{Name: u.DisplayName(), Email: u.Email}
	projects, err := h.Accounts.Projects(r.Context(), u.ID)
	if err != nil {
		h.Log.Error("list projects for the switcher", "err", err)
	}
	for _, p := range projects {
		s.Projects = append(s.Projects, views.ProjectLink{ID: p.ID, Name: p.Name, OrgID: p.Org.ID, OrgName: p.Org.Name, CanManage: p.CanManage()})
	}
	if p, ok := r.Context().Value(projectKey).(accounts.Project); ok {
		s.Project = &views.ProjectLink{ID: p.ID, Name: p.Name, OrgID: p.Org.ID, OrgName: p.Org.Name, CanManage: p.CanManage()}
		s.OrgID = p.Org.ID
	}
	if o, ok := r.Context().Value(orgKey).(accounts.Organization); ok {
		s.OrgID = o.ID
	}
	if s.OrgID == "" && len(s.Projects) > 0 {
		s.OrgID = s.Projects[0].OrgID
	}
	return s
}

// page renders a full dashboard page with status 200.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, title, section string, body templ.Component) {
	h.pageStatus(w, r, http.StatusOK, title, section, body)
}

// pageStatus renders a full dashboard page (or the bare frame for visitors
// who are not logged in) with the given status.
func (h *Handler) pageStatus(w http.ResponseWriter, r *http.Request, status int, title, section string, body templ.Component) {
	var c templ.Component
	if _, ok := currentUser(r); ok {
		c = views.Page(h.shell(w, r, title, section), body)
	} else {
		c = views.Bare(title, false, body)
	}
	h.write(w, r, status, c)
}

// bare renders a page without navigation (onboarding, login).
func (h *Handler) bare(w http.ResponseWriter, r *http.Request, status int, title string, wide bool, body templ.Component) {
	h.write(w, r, status, views.Bare(title, wide, body))
}

// partial renders an HTMX fragment.
func (h *Handler) partial(w http.ResponseWriter, r *http.Request, c templ.Component) {
	h.write(w, r, http.StatusOK, c)
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", hxRequest)
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		h.Log.Warn("render", "route", routeName(r), "err", err)
	}
}

// fail answers an error: its status, a page in the dashboard's look with a
// message safe to show, and a log line for internal errors only.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := errs.KindOf(err)
	status := errs.Status(kind)
	title, msg := http.StatusText(status), errs.Message(err)
	switch kind {
	case errs.NotFound:
		title, msg = "Not found", "This page does not exist, or you do not have access to it."
	case errs.Internal:
		h.Log.Error("dashboard request failed", "method", r.Method, "route", routeName(r), "err", err)
		title, msg = "Something went wrong", "The server could not answer this request. It has been logged; try again in a moment."
	}
	if isPartial(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = views.ErrorPage(status, title, msg).Render(r.Context(), w)
		return
	}
	h.pageStatus(w, r, status, title, "", views.ErrorPage(status, title, msg))
}

// NotFoundHandler is the 404 page for unknown URLs, in the dashboard's look.
func (h *Handler) NotFoundHandler() http.HandlerFunc {
	return h.sessions.LoadAndSave(h.loadUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, errs.E(errs.NotFound, "not found"))
	}))).ServeHTTP
}

// redirect sends the browser elsewhere after a POST (303) or to log in;
// HTMX fragment requests get HX-Redirect so the whole page moves.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, to string) {
	if isPartial(r) {
		w.Header().Set(hxRedir, to)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// flash queues a message for the next page the user sees.
func (h *Handler) flash(r *http.Request, kind, text string) {
	var fs []views.Flash
	if raw := h.sessions.GetString(r.Context(), sessFlash); raw != "" {
		_ = json.Unmarshal([]byte(raw), &fs)
	}
	fs = append(fs, views.Flash{Kind: kind, Text: text})
	b, _ := json.Marshal(fs)
	h.sessions.Put(r.Context(), sessFlash, string(b))
}

func (h *Handler) popFlashes(r *http.Request) []views.Flash {
	raw := h.sessions.PopString(r.Context(), sessFlash)
	if raw == "" {
		return nil
	}
	var fs []views.Flash
	_ = json.Unmarshal([]byte(raw), &fs)
	return fs
}

// maxForm bounds every dashboard form body.
const maxForm = 64 << 10

// parseForm reads a urlencoded form with a size limit. Text PostgreSQL
// cannot store (invalid UTF-8, NUL) is refused here with a clear 400.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return errs.E(errs.Invalid, "the form could not be read (too large or malformed)")
	}
	for _, vs := range r.Form {
		for _, v := range vs {
			if !validText(v) {
				return errs.E(errs.Invalid, "the form contains characters that are not text (invalid UTF-8 or NUL)")
			}
		}
	}
	return nil
}

// validText reports whether s is text PostgreSQL can store.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// routeName is what logs say about a request: the route's pattern, not its
// path, so one-time tokens in URLs (/reset/{token}) never reach the logs.
func routeName(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return "(unrouted)"
}

// formList splits a textarea or comma list into trimmed, non-empty lines.
func formList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// baseURL is the dashboard's address for links in mails and snippets.
func (h *Handler) baseURL(r *http.Request) string {
	if h.PublicURL != "" {
		return strings.TrimRight(h.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || (r.Header.Get("X-Forwarded-Proto") == "https" && h.fromProxy(r)) {
		scheme = "https"
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && h.fromProxy(r) {
		host = fh
	}
	return scheme + "://" + host
}
