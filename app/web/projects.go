package web

import (
	"net/http"
	"strings"

	"tally/app/accounts"
	"tally/app/errs"
	"tally/app/projects"
	"tally/views"
)

// orgProjects lists the organization's projects the user may see.
func (h *Handler) orgProjects(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r)
	o := currentOrg(r)
	all, err := h.Accounts.Projects(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := views.OrgProjects{OrgID: o.ID, OrgName: o.Name, CanCreate: o.Role.AtLeast(accounts.Admin)}
	for _, p := range all {
		if p.Org.ID == o.ID {
			v.Projects = append(v.Projects, views.OrgProject{ID: p.ID, Name: p.Name, Domains: p.Domains, Timezone: p.Timezone})
		}
	}
	h.page(w, r, o.Name, "org", views.OrgProjectsPage(v))
}

// newProject is the form creating a project (admin+).
func (h *Handler) newProject(w http.ResponseWriter, r *http.Request) {
	o := currentOrg(r)
	h.page(w, r, "New project", "org", views.NewProjectPage(views.NewProjectForm{OrgID: o.ID, OrgName: o.Name}))
}

// createProject creates a project with its default write client and sends
// the creator to its tracking page (owners and admins see every project of
// their organization, so no grant is needed).
func (h *Handler) createProject(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	o := currentOrg(r)
	f := views.NewProjectForm{OrgID: o.ID, OrgName: o.Name, Name: r.PostFormValue("name"),
		Domains: r.PostFormValue("domains"), Timezone: strings.TrimSpace(r.PostFormValue("timezone"))}
	in, err := projects.Settings{Name: f.Name, Timezone: f.Timezone, Domains: formList(f.Domains)}.Normalize()
	var created projects.Created
	if err == nil {
		created, err = h.Projects.CreateIn(r.Context(), o.ID, projects.NewProject{Name: in.Name, Domains: in.Domains, Timezone: in.Timezone})
	}
	if err != nil {
		if errs.KindOf(err) != errs.Invalid {
			h.fail(w, r, err)
			return
		}
		f.Error = errs.Message(err)
		showAt(w, "/o/"+o.ID+"/projects/new")
		h.pageStatus(w, r, http.StatusBadRequest, "New project", "org", views.NewProjectPage(f))
		return
	}
	u, _ := currentUser(r)
	h.Log.Info("project created", "user", u.ID, "organization", o.ID, "project", created.ProjectID)
	h.flash(r, "ok", "Project “"+in.Name+"” created. Add the snippet to your site to start collecting events.")
	h.redirect(w, r, views.ProjectPath(created.ProjectID, "/tracking"))
}
