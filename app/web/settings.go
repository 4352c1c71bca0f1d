package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"tally/app/errs"
	"tally/app/projects"
	"tally/views"
)

// Project settings: General, Clients, Traffic filters and the Danger zone.
// Every route here sits behind requireRole(Admin).

// forgetProject tells this process's ingest that a project's clients,
// domains or filters changed, so the next event sees the change. Other
// instances on the same database follow within ingest's cache TTL (30 s).
func (h *Handler) forgetProject(projectID string) {
	if h.Ingest != nil {
		h.Ingest.ForgetProject(projectID)
	}
}

// showAt makes HTMX put path in the address bar for a page rendered as the
// answer to a POST (a form with a mistake, the new client's secret), so
// reloading shows that page instead of asking for a URL that is POST only.
func showAt(w http.ResponseWriter, path string) { w.Header().Set("HX-Push-Url", path) }

func (h *Handler) settingsGeneral(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	h.page(w, r, "Settings", "settings", views.SettingsGeneral(views.GeneralSettings{
		ProjectID: p.ID, Name: p.Name, Timezone: p.Timezone, Domains: strings.Join(p.Domains, "\n"),
		AllowBrowserRevenue: p.AllowBrowserRevenue,
	}))
}

// settingsSave validates every General field and stores them together; a
// mistake re-renders the form (400) and changes nothing.
func (h *Handler) settingsSave(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	p := currentProject(r)
	f := views.GeneralSettings{ProjectID: p.ID, Name: r.PostFormValue("name"), Timezone: r.PostFormValue("timezone"),
		Domains: r.PostFormValue("domains"), AllowBrowserRevenue: r.PostFormValue("browser_revenue") != ""}
	_, err := h.Projects.UpdateSettings(r.Context(), p.ID, projects.Settings{
		Name: f.Name, Timezone: f.Timezone, Domains: formList(f.Domains), AllowBrowserRevenue: f.AllowBrowserRevenue,
	})
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		f.Error = errs.Message(err)
		showAt(w, views.ProjectPath(p.ID, "/settings"))
		h.pageStatus(w, r, http.StatusBadRequest, "Settings", "settings", views.SettingsGeneral(f))
		return
	}
	h.forgetProject(p.ID)
	h.flash(r, "ok", "Settings saved.")
	h.redirect(w, r, views.ProjectPath(p.ID, "/settings"))
}

// clientsPage renders the Clients tab with the given form state.
func (h *Handler) clientsPage(w http.ResponseWriter, r *http.Request, status int, form views.NewClientForm) {
	p := currentProject(r)
	cs, err := h.Projects.Clients(r.Context(), p.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	form.Types = projects.ClientTypes
	v := views.ClientsPage{ProjectID: p.ID, Form: form}
	for _, c := range cs {
		v.Clients = append(v.Clients, views.ClientRow{ID: c.ID.String(), Name: c.Name, Type: c.Type, CreatedAt: c.CreatedAt, RevokedAt: c.RevokedAt})
	}
	h.pageStatus(w, r, status, "Clients · Settings", "settings", views.SettingsClients(v))
}

func (h *Handler) settingsClients(w http.ResponseWriter, r *http.Request) {
	h.clientsPage(w, r, http.StatusOK, views.NewClientForm{Type: projects.ClientWrite})
}

// createClient creates a client and shows its secret on this answer only:
// it is not kept anywhere but as a hash, never put in the session or a
// redirect.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	p := currentProject(r)
	form := views.NewClientForm{Name: r.PostFormValue("name"), Type: r.PostFormValue("type")}
	c, secret, err := h.Projects.CreateClient(r.Context(), p.ID, form.Name, form.Type)
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		form.Error = errs.Message(err)
		showAt(w, views.ProjectPath(p.ID, "/settings/clients"))
		h.clientsPage(w, r, http.StatusBadRequest, form)
		return
	}
	u, _ := currentUser(r)
	h.Log.Info("client created", "user", u.ID, "project", p.ID, "client", c.ID, "type", c.Type)
	showAt(w, views.ProjectPath(p.ID, "/settings/clients")) // a reload shows the list, not the secret
	h.page(w, r, "Client created · Settings", "settings", views.SettingsClientCreated(views.ClientCreated{
		ProjectID: p.ID, ID: c.ID.String(), Name: c.Name, Type: c.Type, Secret: secret,
	}))
}

// revokeClient stops a client of this project at once (404 for any other).
func (h *Handler) revokeClient(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	id, err := uuid.Parse(chi.URLParam(r, "clientID"))
	if err == nil {
		err = h.Projects.RevokeClient(r.Context(), p.ID, id)
	} else {
		err = errs.E(errs.NotFound, "no such client")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.forgetProject(p.ID)
	u, _ := currentUser(r)
	h.Log.Info("client revoked", "user", u.ID, "project", p.ID, "client", id)
	h.flash(r, "ok", "Client revoked: requests with it are refused from now on.")
	h.redirect(w, r, views.ProjectPath(p.ID, "/settings/clients"))
}

// filtersPage renders the Traffic filters tab with the given form state.
func (h *Handler) filtersPage(w http.ResponseWriter, r *http.Request, status int, form views.FilterForm) {
	p := currentProject(r)
	fs, err := h.Projects.Filters(r.Context(), p.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := views.FiltersPage{ProjectID: p.ID, Form: form, Fields: projects.FilterFields, Ops: projects.FilterOps}
	for _, f := range fs {
		v.Filters = append(v.Filters, views.FilterRow{ID: f.ID, Kind: f.Kind, Field: f.Field, Op: f.Op, Value: f.Value})
	}
	h.pageStatus(w, r, status, "Traffic filters · Settings", "settings", views.SettingsFilters(v))
}

func (h *Handler) settingsFilters(w http.ResponseWriter, r *http.Request) {
	h.filtersPage(w, r, http.StatusOK, views.FilterForm{Kind: projects.FilterIP})
}

func (h *Handler) addFilter(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	p := currentProject(r)
	form := views.FilterForm{Kind: r.PostFormValue("kind"), Field: strings.TrimSpace(r.PostFormValue("field")),
		Op: r.PostFormValue("op"), Value: r.PostFormValue("value")}
	_, err := h.Projects.AddFilter(r.Context(), p.ID, projects.Filter{Kind: form.Kind, Field: form.Field, Op: form.Op, Value: form.Value})
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		form.Error = errs.Message(err)
		showAt(w, views.ProjectPath(p.ID, "/settings/filters"))
		h.filtersPage(w, r, http.StatusBadRequest, form)
		return
	}
	h.forgetProject(p.ID)
	h.flash(r, "ok", "Filter added: matching events are no longer stored.")
	h.redirect(w, r, views.ProjectPath(p.ID, "/settings/filters"))
}

func (h *Handler) removeFilter(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	raw := chi.URLParam(r, "filterID")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err == nil && id > 0 {
		err = h.Projects.RemoveFilter(r.Context(), p.ID, id)
	} else {
		err = errs.E(errs.NotFound, "no such filter")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.forgetProject(p.ID)
	h.flash(r, "ok", "Filter removed.")
	h.redirect(w, r, views.ProjectPath(p.ID, "/settings/filters"))
}

// deletePage renders the Danger zone tab.
func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := currentProject(r)
	fp, err := h.Projects.Footprint(r.Context(), p.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.pageStatus(w, r, status, "Delete · Settings", "settings", views.SettingsDelete(views.DeleteProject{
		ProjectID: p.ID, Name: p.Name, Clients: fp.Clients, Filters: fp.Filters, Profiles: fp.Profiles,
		ProfilesCapped: fp.Profiles >= projects.FootprintProfileCap, Granted: fp.Granted, Error: msg,
	}))
}

func (h *Handler) settingsDelete(w http.ResponseWriter, r *http.Request) {
	h.deletePage(w, r, http.StatusOK, "")
}

// deleteProject deletes the project and all its data once the user has
// typed its name.
func (h *Handler) deleteProject(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	p := currentProject(r)
	if strings.TrimSpace(r.PostFormValue("confirm")) != p.Name {
		showAt(w, views.ProjectPath(p.ID, "/settings/delete"))
		h.deletePage(w, r, http.StatusBadRequest, "The name you typed does not match the project's name: nothing was deleted.")
		return
	}
	if err := h.Projects.Delete(r.Context(), p.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.forgetProject(p.ID)
	if h.sessions.GetString(r.Context(), sessProject) == p.ID {
		h.sessions.Remove(r.Context(), sessProject)
	}
	u, _ := currentUser(r)
	h.Log.Info("project deleted", "user", u.ID, "organization", p.Org.ID, "project", p.ID)
	h.flash(r, "ok", "Project “"+p.Name+"” and all its data were deleted.")
	h.redirect(w, r, "/o/"+p.Org.ID)
}
