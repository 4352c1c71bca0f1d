package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"tally/app/accounts"
	"tally/app/errs"
	"tally/views"
)

// orgs lists the user's organizations, with the form creating one.
func (h *Handler) orgs(w http.ResponseWriter, r *http.Request) {
	h.renderOrgs(w, r, http.StatusOK, views.OrgsPage{})
}

func (h *Handler) renderOrgs(w http.ResponseWriter, r *http.Request, status int, v views.OrgsPage) {
	u, _ := currentUser(r)
	list, err := h.Accounts.Organizations(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, o := range list {
		v.Orgs = append(v.Orgs, views.OrgRow{ID: o.ID, Name: o.Name, Role: string(o.Role)})
	}
	h.pageStatus(w, r, status, "Organizations", "orgs", views.Orgs(v))
}

// createOrg creates an organization owned by the user.
func (h *Handler) createOrg(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	name := r.PostFormValue("name")
	o, err := h.Accounts.CreateOrganization(r.Context(), u.ID, name)
	if errs.KindOf(err) == errs.Invalid {
		h.renderOrgs(w, r, http.StatusBadRequest, views.OrgsPage{Name: name, Error: errs.Message(err)})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("organization created", "organization", o.ID, "user", u.ID)
	h.flash(r, "ok", fmt.Sprintf("Organization %s created. Add its first project, then invite people.", o.Name))
	h.redirect(w, r, "/o/"+o.ID)
}

// membersPath is the members page of an organization.
func membersPath(orgID string) string { return "/o/" + orgID + "/members" }

// members shows an organization's people and pending invitations.
func (h *Handler) members(w http.ResponseWriter, r *http.Request) {
	h.renderMembers(w, r, http.StatusOK, nil)
}

// renderMembers renders the members page; edit adjusts the view (a form
// mistake, the link just created). After a POST the address bar moves to
// the members page, so a reload shows it rather than resubmitting.
func (h *Handler) renderMembers(w http.ResponseWriter, r *http.Request, status int, edit func(*views.MembersPage)) {
	ctx := r.Context()
	u, _ := currentUser(r)
	o := currentOrg(r)
	members, err := h.Accounts.Members(ctx, o.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	invs, err := h.Accounts.PendingInvitations(ctx, o.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	visible, err := h.Accounts.Projects(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := views.MembersPage{
		OrgID: o.ID, OrgName: o.Name, MyRole: string(o.Role),
		CanManage: o.Role.AtLeast(accounts.Admin), IsOwner: o.Role == accounts.Owner,
	}
	seen := map[string]bool{}
	for _, p := range visible {
		if p.Org.ID == o.ID {
			seen[p.ID] = true
			if v.CanManage { // admins see every project of the organization
				v.Projects = append(v.Projects, views.ProjectOption{ID: p.ID, Name: p.Name})
			}
		}
	}
	for _, m := range members {
		row := views.MemberRow{
			ID: m.User.ID.String(), Name: m.User.DisplayName(), Email: m.User.Email, Role: string(m.Role),
			Self: m.User.ID == u.ID, SeesAll: m.Role.SeesAllProjects(),
			CanEdit: v.CanManage && (m.Role != accounts.Owner || v.IsOwner),
		}
		granted := map[string]bool{}
		for _, p := range m.Projects {
			granted[p.ID] = true
		}
		if row.CanEdit {
			for _, p := range v.Projects {
				row.Projects = append(row.Projects, views.ProjectOption{ID: p.ID, Name: p.Name, Checked: granted[p.ID]})
			}
			if v.IsOwner {
				row.RoleOptions = []string{"owner", "admin", "member", "viewer"}
			} else {
				row.RoleOptions = []string{"admin", "member", "viewer"}
			}
		} else {
			// Members and viewers read only the grants among the
			// projects they may see themselves.
			for _, p := range m.Projects {
				if seen[p.ID] {
					row.Projects = append(row.Projects, views.ProjectOption{ID: p.ID, Name: p.Name, Checked: true})
				}
			}
		}
		v.Members = append(v.Members, row)
	}
	for _, i := range invs {
		row := views.InvitationRow{ID: i.ID, Email: i.Email, Role: string(i.Role), InvitedBy: i.InvitedBy, Expires: i.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC")}
		for _, p := range i.Projects {
			if seen[p.ID] {
				row.Projects = append(row.Projects, p.Name)
			}
		}
		v.Invitations = append(v.Invitations, row)
	}
	if edit != nil {
		edit(&v)
	}
	if r.Method == http.MethodPost {
		w.Header().Set("HX-Push-Url", membersPath(o.ID))
	}
	h.pageStatus(w, r, status, "Members · "+o.Name, "members", views.Members(v))
}

// memberDone finishes a change on the members page: a flash and back to
// the page when it worked; the page with the reason and its status when
// the change is not allowed or not possible.
func (h *Handler) memberDone(w http.ResponseWriter, r *http.Request, err error, ok string) {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.Forbidden, errs.Conflict:
		h.flash(r, "error", errs.Message(err))
		h.renderMembers(w, r, errs.Status(errs.KindOf(err)), nil)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.flash(r, "ok", ok)
	h.redirect(w, r, membersPath(currentOrg(r).ID))
}

// invite creates an invitation, mails its link when mail is set up, and
// shows the link this once.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	o := currentOrg(r)
	f := views.InviteForm{Email: strings.TrimSpace(r.PostFormValue("email")), Role: r.PostFormValue("role"), Projects: r.PostForm["project"]}
	token, inv, err := h.Accounts.Invite(r.Context(), o.ID, u.ID, f.Email, accounts.Role(f.Role), f.Projects)
	switch errs.KindOf(err) {
	case errs.Invalid:
		f.Error = errs.Message(err)
		h.renderMembers(w, r, http.StatusBadRequest, func(v *views.MembersPage) { v.Invite = f })
		return
	case errs.Forbidden, errs.Conflict:
		h.memberDone(w, r, err, "")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	link := h.baseURL(r) + "/invite/" + token
	mailed := false
	if h.Mail.Configured() {
		err := h.Mail.Send(r.Context(), inv.Email,
			oneLine(fmt.Sprintf("%s invited you to %s on tally", u.DisplayName(), o.Name)),
			fmt.Sprintf("%s invited you to join %s on tally as %s.\n\nAccept the invitation:\n%s\n\nThe link works once and expires in 7 days. If you did not expect this mail, ignore it.\n",
				u.DisplayName(), o.Name, inv.Role, link))
		if err != nil {
			h.Log.Warn("invitation mail not sent", "organization", o.ID, "err", err)
			h.flash(r, "error", "The invitation mail could not be sent; send the link below yourself.")
		} else {
			mailed = true
		}
	}
	h.Log.Info("invitation created", "organization", o.ID, "by", u.ID, "role", inv.Role, "mailed", mailed)
	h.flash(r, "ok", fmt.Sprintf("Invitation for %s created.", inv.Email))
	h.renderMembers(w, r, http.StatusOK, func(v *views.MembersPage) {
		v.NewLink, v.NewLinkEmail, v.Mailed = link, inv.Email, mailed
	})
}

// oneLine keeps a mail subject on one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
}

func (h *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		h.fail(w, r, errs.E(errs.NotFound, "no such invitation"))
		return
	}
	h.memberDone(w, r, h.Accounts.RevokeInvitation(r.Context(), currentOrg(r).ID, id), "Invitation revoked.")
}

// memberParam is the {userID} of a member route.
func memberParam(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "userID"))
	if err != nil {
		return uuid.UUID{}, errs.E(errs.NotFound, "no such member")
	}
	return id, nil
}

func (h *Handler) setMemberRole(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	target, err := memberParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	role := r.PostFormValue("role")
	err = h.Accounts.SetRole(r.Context(), currentOrg(r).ID, u.ID, target, accounts.Role(role))
	h.memberDone(w, r, err, "Role changed to "+role+".")
}

func (h *Handler) setMemberAccess(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	target, err := memberParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	err = h.Accounts.SetProjectAccess(r.Context(), currentOrg(r).ID, u.ID, target, r.PostForm["project"])
	h.memberDone(w, r, err, "Project access saved.")
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	target, err := memberParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	if target == u.ID {
		h.leaveOrg(w, r)
		return
	}
	h.memberDone(w, r, h.Accounts.RemoveMember(r.Context(), currentOrg(r).ID, u.ID, target), "Member removed.")
}

func (h *Handler) leaveOrg(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r)
	o := currentOrg(r)
	err := h.Accounts.Leave(r.Context(), o.ID, u.ID)
	if err != nil {
		h.memberDone(w, r, err, "")
		return
	}
	h.flash(r, "ok", "You left "+o.Name+".")
	h.redirect(w, r, "/orgs")
}

// orgSettings renames the organization (owners).
func (h *Handler) orgSettings(w http.ResponseWriter, r *http.Request) {
	o := currentOrg(r)
	h.page(w, r, "Settings · "+o.Name, "orgsettings", views.OrgSettings(views.OrgSettingsPage{OrgID: o.ID, OrgName: o.Name, Name: o.Name}))
}

func (h *Handler) saveOrgSettings(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	o := currentOrg(r)
	name := r.PostFormValue("name")
	err := h.Accounts.RenameOrganization(r.Context(), o.ID, u.ID, name)
	if errs.KindOf(err) == errs.Invalid {
		h.pageStatus(w, r, http.StatusBadRequest, "Settings · "+o.Name, "orgsettings",
			views.OrgSettings(views.OrgSettingsPage{OrgID: o.ID, OrgName: o.Name, Name: name, Error: errs.Message(err)}))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.flash(r, "ok", "Organization renamed.")
	h.redirect(w, r, "/o/"+o.ID+"/settings")
}

// noReferrer keeps a page's secret URL (an invitation or reset token) out
// of Referer headers.
func noReferrer(w http.ResponseWriter) { w.Header().Set("Referrer-Policy", "no-referrer") }

// invitation shows what an invitation link offers: joining with the
// logged-in account, or creating the invited account.
func (h *Handler) invitation(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	token := chi.URLParam(r, "token")
	inv, err := h.Accounts.Invitation(r.Context(), token)
	if errs.KindOf(err) == errs.NotFound {
		h.bare(w, r, http.StatusNotFound, "Invitation", false, views.InviteInvalid())
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.invitePage(r.Context(), r, token, inv)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.bare(w, r, http.StatusOK, "Join "+inv.OrgName, false, views.Invite(v))
}

func (h *Handler) invitePage(ctx context.Context, r *http.Request, token string, inv accounts.Invitation) (views.InvitePage, error) {
	v := views.InvitePage{Token: token, OrgName: inv.OrgName, Role: string(inv.Role), Email: inv.Email, InvitedBy: inv.InvitedBy}
	for _, p := range inv.Projects {
		v.Projects = append(v.Projects, p.Name)
	}
	if u, ok := currentUser(r); ok {
		v.LoggedInAs = u.Email
		return v, nil
	}
	_, err := h.Accounts.UserByEmail(ctx, inv.Email)
	if err != nil && errs.KindOf(err) != errs.NotFound {
		return v, err
	}
	v.AccountExists = err == nil
	return v, nil
}

// acceptInvitation joins the organization: as the logged-in user, or with
// a new account for the invited email, which is then logged in.
func (h *Handler) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	token := chi.URLParam(r, "token")
	var inv accounts.Invitation
	var err error
	if u, ok := currentUser(r); ok {
		inv, err = h.Accounts.AcceptInvitation(ctx, token, u.ID)
		if err == nil {
			h.Log.Info("invitation accepted", "organization", inv.OrgID, "user", u.ID)
		}
	} else {
		var nu accounts.User
		name := r.PostFormValue("name")
		nu, inv, err = h.Accounts.AcceptInvitationNewUser(ctx, token, name, r.PostFormValue("password"))
		if k := errs.KindOf(err); k == errs.Invalid || k == errs.Conflict {
			pending, lerr := h.Accounts.Invitation(ctx, token)
			if lerr == nil {
				v, verr := h.invitePage(ctx, r, token, pending)
				if verr == nil {
					v.Name, v.Error = name, errs.Message(err)
					h.bare(w, r, errs.Status(k), "Join "+pending.OrgName, false, views.Invite(v))
					return
				}
			}
		}
		if err == nil {
			if err = h.startSession(r, nu, false); err == nil {
				h.Log.Info("account created by invitation", "organization", inv.OrgID, "user", nu.ID)
			}
		}
	}
	if errs.KindOf(err) == errs.NotFound {
		h.bare(w, r, http.StatusNotFound, "Invitation", false, views.InviteInvalid())
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.flash(r, "ok", "Welcome to "+inv.OrgName+".")
	h.redirect(w, r, "/o/"+inv.OrgID)
}
