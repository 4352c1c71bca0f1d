package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"tally/app/accounts"
	"tally/app/errs"
)

type ctxKey int

const (
	userKey ctxKey = iota
	projectKey
	orgKey
)

// Session keys.
const (
	sessUser     = "user"     // uuid string
	sessIssued   = "issued"   // unix seconds of the login
	sessRemember = "remember" // bool
	sessSeen     = "seen"     // unix seconds of the last request (idle timeout)
	sessFlash    = "flash"    // JSON []views.Flash
	sessProject  = "project"  // the last project opened, for "/"
)

// currentUser is the logged-in user; ok is false on public pages.
func currentUser(r *http.Request) (accounts.User, bool) {
	u, ok := r.Context().Value(userKey).(accounts.User)
	return u, ok
}

// currentProject is the project of a /p/{projectID} route, already checked.
func currentProject(r *http.Request) accounts.Project {
	return r.Context().Value(projectKey).(accounts.Project)
}

// currentOrg is the organization of an /o/{orgID} route, already checked.
func currentOrg(r *http.Request) accounts.Organization {
	return r.Context().Value(orgKey).(accounts.Organization)
}

// loadUser puts the logged-in user, if any, into the request context. A
// login issued before the user's last password change no longer counts,
// nor one idle longer than sessionIdle without "remember me".
func (h *Handler) loadUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		idStr := h.sessions.GetString(ctx, sessUser)
		if idStr == "" {
			next.ServeHTTP(w, r)
			return
		}
		id, err := uuid.Parse(idStr)
		if err != nil {
			_ = h.sessions.Destroy(ctx)
			next.ServeHTTP(w, r)
			return
		}
		u, err := h.Accounts.User(ctx, id)
		issued := time.Unix(h.sessions.GetInt64(ctx, sessIssued), 0)
		seen := time.Unix(h.sessions.GetInt64(ctx, sessSeen), 0)
		idle := !h.sessions.GetBool(ctx, sessRemember) && time.Since(seen) > sessionIdle
		switch {
		case errs.KindOf(err) == errs.NotFound || (err == nil && (issued.Before(u.SessionsValidAfter) || idle)):
			_ = h.sessions.Destroy(ctx)
			next.ServeHTTP(w, r)
			return
		case err != nil:
			h.fail(w, r, err)
			return
		}
		if time.Since(seen) > time.Minute { // write the session at most once a minute
			h.sessions.Put(ctx, sessSeen, time.Now().Unix())
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, userKey, u)))
	})
}

// requireUser sends visitors who are not logged in to the login page (or,
// before anyone has an account, to onboarding).
func (h *Handler) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := currentUser(r); ok {
			next.ServeHTTP(w, r)
			return
		}
		has, err := h.Accounts.HasUsers(r.Context())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		target := "/welcome"
		if has {
			target = "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" && !isPartial(r) {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
		}
		h.redirect(w, r, target)
	})
}

// projectCtx loads the {projectID} of the route if the user may see it. A
// project of another organization, or one not granted, is 404: its
// existence is not revealed.
func (h *Handler) projectCtx(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := currentUser(r)
		id := chi.URLParam(r, "projectID")
		if !validText(id) {
			h.fail(w, r, errs.E(errs.NotFound, "no such project"))
			return
		}
		p, err := h.Accounts.Project(r.Context(), u.ID, id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if r.Method == http.MethodGet && !isPartial(r) && h.sessions.GetString(r.Context(), sessProject) != p.ID {
			h.sessions.Put(r.Context(), sessProject, p.ID)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), projectKey, p)))
	})
}

// orgCtx loads the {orgID} of the route if the user is a member (404 if not).
func (h *Handler) orgCtx(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := currentUser(r)
		id := chi.URLParam(r, "orgID")
		if !validText(id) {
			h.fail(w, r, errs.E(errs.NotFound, "no such organization"))
			return
		}
		o, err := h.Accounts.Organization(r.Context(), u.ID, id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), orgKey, o)))
	})
}

// requireRole refuses (403) users whose role in the route's organization
// (of the project, or of the /o/{orgID}) is below min.
func (h *Handler) requireRole(min accounts.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var role accounts.Role
			if p, ok := r.Context().Value(projectKey).(accounts.Project); ok {
				role = p.Org.Role
			} else if o, ok := r.Context().Value(orgKey).(accounts.Organization); ok {
				role = o.Role
			}
			if !role.AtLeast(min) {
				h.fail(w, r, errs.E(errs.Forbidden, "your role does not allow this: ask an %s of the organization", min))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
