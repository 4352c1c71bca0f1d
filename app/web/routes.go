package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"tally/app/accounts"
)

// Routes mounts the whole dashboard on r: every dashboard URL is in this
// table, grouped by who may use it. Every state-changing request passes
// the cross-origin check (CSRF); the ingestion endpoints (mounted by the
// server, outside this group) stay open to any origin.
func (h *Handler) Routes(r chi.Router) {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Log.Warn("cross-origin request refused", "method", r.Method, "route", routeName(r), "origin", r.Header.Get("Origin"))
		http.Error(w, "cross-origin request refused: submit the form from the dashboard itself", http.StatusForbidden)
	}))
	r.Group(func(r chi.Router) {
		r.Use(securityHeaders, csrf.Handler, middleware.Compress(5, "text/html"), h.secureCookies, h.sessions.LoadAndSave, h.loadUser)

		// Public: onboarding (only while nobody has an account), login,
		// password reset, accepting an invitation.
		r.Get("/welcome", h.welcome)
		r.Post("/welcome", h.welcomeSubmit)
		r.Get("/login", h.login)
		r.Post("/login", h.loginSubmit)
		r.Post("/logout", h.logout)
		// Password reset and invitations (account.go, orgs.go).
		r.Get("/forgot", h.forgot)
		r.Post("/forgot", h.forgotSubmit)
		r.Get("/reset/{token}", h.reset)
		r.Post("/reset/{token}", h.resetSubmit)
		r.Get("/invite/{token}", h.invitation)
		r.Post("/invite/{token}", h.acceptInvitation)

		// Logged in.
		r.Group(func(r chi.Router) {
			r.Use(h.requireUser)
			r.Get("/", h.home)
			r.Get("/switch", h.switchProject)
			// The user's account and organizations (account.go, orgs.go).
			r.Get("/account", h.account)
			r.Post("/account/password", h.changePassword)
			r.Get("/orgs", h.orgs)
			r.Post("/orgs", h.createOrg)

			// One project: any role that may see it reads; owners and
			// admins change settings and clients.
			r.Route("/p/{projectID}", func(r chi.Router) {
				r.Use(h.projectCtx)
				// Overview: the page and its partials (overview.go).
				r.Get("/", h.overview)
				r.Get("/overview/cards", h.overviewCards)
				r.Get("/overview/chart", h.overviewChart)
				r.Get("/overview/widget/{widget}", h.overviewWidget)
				// Realtime: the page and its event stream (realtime.go).
				r.Get("/realtime", h.realtime)
				r.Get("/realtime/stream", h.realtimeStream)
				r.Get("/events", h.comingSoon("events", "Events", "Browsing and charting your events arrives with the events release."))
				r.Get("/profiles", h.comingSoon("profiles", "Profiles", "The people behind your events, their sessions and their history arrive with the profiles release."))
				r.Get("/reports", h.comingSoon("reports", "Reports", "Saved funnels, retention and path reports arrive with the reports release."))
				r.Get("/dashboards", h.comingSoon("dashboards", "Dashboards", "Dashboards of saved reports arrive with the reports release."))
				// Tracking snippet and the live stream (tracking.go, live.go).
				r.Get("/tracking", h.tracking)
				r.Get("/live", h.live)

				r.Group(func(r chi.Router) {
					r.Use(h.requireRole(accounts.Admin))
					// Settings (settings.go).
					r.Get("/settings", h.settingsGeneral)
					r.Post("/settings", h.settingsSave)
					r.Get("/settings/clients", h.settingsClients)
					r.Post("/clients", h.createClient)
					r.Post("/clients/{clientID}/revoke", h.revokeClient)
					r.Get("/settings/filters", h.settingsFilters)
					r.Post("/filters", h.addFilter)
					r.Post("/filters/{filterID}/delete", h.removeFilter)
					r.Get("/settings/delete", h.settingsDelete)
					r.Post("/delete", h.deleteProject)
				})
			})

			// One organization.
			r.Route("/o/{orgID}", func(r chi.Router) {
				r.Use(h.orgCtx)
				// Projects (projects.go).
				r.Get("/", h.orgProjects)
				r.With(h.requireRole(accounts.Admin)).Get("/projects/new", h.newProject)
				r.With(h.requireRole(accounts.Admin)).Post("/projects", h.createProject)
				// Members and invitations (orgs.go): members read, admins
				// change (the store keeps owners to owners), owners rename.
				r.Get("/members", h.members)
				r.Post("/leave", h.leaveOrg)
				r.Group(func(r chi.Router) {
					r.Use(h.requireRole(accounts.Admin))
					r.Post("/invitations", h.invite)
					r.Post("/invitations/{id}/revoke", h.revokeInvitation)
					r.Post("/members/{userID}/role", h.setMemberRole)
					r.Post("/members/{userID}/access", h.setMemberAccess)
					r.Post("/members/{userID}/remove", h.removeMember)
				})
				r.Group(func(r chi.Router) {
					r.Use(h.requireRole(accounts.Owner))
					r.Get("/settings", h.orgSettings)
					r.Post("/settings", h.saveOrgSettings)
				})
			})
		})
	})
}
