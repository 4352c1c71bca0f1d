package web

import (
	"net/http"

	"tally/app/projects"
	"tally/views"
)

// tracking shows the snippet to paste, with the project's client id and
// this server as apiUrl, and waits (over SSE) for the first event.
func (h *Handler) tracking(w http.ResponseWriter, r *http.Request) {
	p := currentProject(r)
	v := views.TrackingPage{ProjectID: p.ID, APIURL: h.baseURL(r), Domains: p.Domains, CanManage: p.CanManage()}
	clients, err := h.Projects.Clients(r.Context(), p.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The oldest active write client: the one onboarding created, unless
	// it was revoked (the list is newest first).
	for _, c := range clients {
		if c.Type == projects.ClientWrite && c.RevokedAt == nil {
			v.ClientID = c.ID.String()
		}
	}
	if h.Hub != nil {
		f, ok, err := h.Hub.FirstEvent(r.Context(), p.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if ok {
			v.First = &views.FirstEvent{Name: f.Name, Path: f.Path}
		}
	}
	h.page(w, r, "Tracking", "tracking", views.Tracking(v))
}
