package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tally/app/accounts"
	"tally/app/errs"
	"tally/views"
)

// welcome shows onboarding while the server has no users, and the login
// page after.
func (h *Handler) welcome(w http.ResponseWriter, r *http.Request) {
	has, err := h.Accounts.HasUsers(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if has {
		h.redirect(w, r, "/login")
		return
	}
	h.bare(w, r, http.StatusOK, "Welcome", false, views.Welcome(views.WelcomeForm{}))
}

// welcomeSubmit creates the owner, the organization and the first project,
// logs the owner in and shows the snippet page that waits for the first event.
func (h *Handler) welcomeSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	f := views.WelcomeForm{
		Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Organization: r.PostFormValue("organization"),
		Project: r.PostFormValue("project"), Domain: r.PostFormValue("domain"), Timezone: r.PostFormValue("timezone"),
	}
	u, created, err := h.Accounts.Onboard(r.Context(), accounts.Onboarding{
		Email: f.Email, Name: f.Name, Password: r.PostFormValue("password"),
		Organization: f.Organization, Project: f.Project, Domains: formList(f.Domain), Timezone: strings.TrimSpace(f.Timezone),
	})
	if errs.KindOf(err) == errs.Conflict {
		h.redirect(w, r, "/login")
		return
	}
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		f.Error = errs.Message(err)
		h.bare(w, r, http.StatusBadRequest, "Welcome", false, views.Welcome(f))
		return
	}
	if err := h.startSession(r, u, false); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("owner account created", "user", u.ID, "organization", created.OrganizationID, "project", created.ProjectID)
	h.redirect(w, r, views.ProjectPath(created.ProjectID, "/tracking"))
}

// startSession logs u in: a new token (no fixation), the login time for
// invalidation by password changes, and persistence for "remember me".
func (h *Handler) startSession(r *http.Request, u accounts.User, remember bool) error {
	ctx := r.Context()
	if err := h.sessions.RenewToken(ctx); err != nil {
		return err
	}
	h.sessions.Put(ctx, sessUser, u.ID.String())
	// Never earlier than the user's session cutoff: a password change sets
	// it to the next whole second, and the session it re-issues (or a
	// login right after it) must count while every older one does not.
	h.sessions.Put(ctx, sessIssued, max(time.Now().Unix(), u.SessionsValidAfter.Unix()))
	h.sessions.Put(ctx, sessSeen, time.Now().Unix())
	h.sessions.Put(ctx, sessRemember, remember)
	h.sessions.RememberMe(ctx, remember)
	return nil
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if _, ok := currentUser(r); ok {
		h.redirect(w, r, safeNext(r.URL.Query().Get("next")))
		return
	}
	has, err := h.Accounts.HasUsers(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !has {
		h.redirect(w, r, "/welcome")
		return
	}
	h.bare(w, r, http.StatusOK, "Log in", false, views.Login(views.LoginForm{Next: r.URL.Query().Get("next"), Remember: true}))
}

func (h *Handler) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	f := views.LoginForm{Email: strings.TrimSpace(r.PostFormValue("email")), Next: r.PostFormValue("next"), Remember: r.PostFormValue("remember") != ""}
	addr := addrKey(h.clientIP(r))
	email := strings.ToLower(f.Email)
	keys := []struct {
		key string
		max int
	}{
		{"account-addr:" + email + "|" + addr, loginPerAccountAddr},
		{"account:" + email, loginPerAccount},
		{"ip:" + addr, loginPerIP},
	}
	for _, k := range keys {
		if blocked, wait := h.logins.blocked(k.key, k.max); blocked {
			h.loginRefused(w, r, f, wait)
			return
		}
	}
	u, err := h.Accounts.Authenticate(r.Context(), f.Email, r.PostFormValue("password"))
	if err != nil {
		if errs.KindOf(err) != errs.Unauthorized {
			h.fail(w, r, err)
			return
		}
		for _, k := range keys {
			h.logins.fail(k.key)
		}
		h.Log.Info("login failed", "ip", h.clientIP(r))
		f.Error = errs.Message(err)
		h.bare(w, r, http.StatusUnauthorized, "Log in", false, views.Login(f))
		return
	}
	h.logins.reset(keys[0].key)
	if err := h.startSession(r, u, f.Remember); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("login", "user", u.ID)
	h.redirect(w, r, safeNext(f.Next))
}

func (h *Handler) loginRefused(w http.ResponseWriter, r *http.Request, f views.LoginForm, wait time.Duration) {
	mins := int(wait.Minutes()) + 1
	w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
	f.Error = fmt.Sprintf("Too many failed logins. Try again in %d minute%s, or reset your password.", mins, plural(mins))
	h.bare(w, r, http.StatusTooManyRequests, "Log in", false, views.Login(f))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// safeNext keeps redirects after login on this site: a path, never a URL
// to another host. Browsers strip tabs and newlines and read "\" as "/",
// so "//evil.example", "/\evil.example" and "/\t/evil.example" all lead away:
// any control character or backslash is refused outright.
func safeNext(next string) string {
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.sessions.Destroy(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// home opens the last project the user looked at, or their first one.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r)
	if last := h.sessions.GetString(r.Context(), sessProject); last != "" {
		if _, err := h.Accounts.Project(r.Context(), u.ID, last); err == nil {
			h.redirect(w, r, views.ProjectPath(last, ""))
			return
		}
	}
	ps, err := h.Accounts.Projects(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(ps) > 0 {
		h.redirect(w, r, views.ProjectPath(ps[0].ID, ""))
		return
	}
	h.redirect(w, r, "/orgs")
}

// switchProject is the project switcher's target (a GET form).
func (h *Handler) switchProject(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r)
	id := r.URL.Query().Get("project")
	if !validText(id) {
		h.fail(w, r, errs.E(errs.NotFound, "no such project"))
		return
	}
	p, err := h.Accounts.Project(r.Context(), u.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, views.ProjectPath(p.ID, ""))
}

// comingSoon renders the honest placeholder of a page a later release fills.
func (h *Handler) comingSoon(section, title, detail string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.page(w, r, title, section, views.ComingSoon(title, detail))
	}
}
