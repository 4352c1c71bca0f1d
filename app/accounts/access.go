package accounts

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tally/app/errs"
)

// Organization is an organization as one user sees it.
type Organization struct {
	ID   string
	Name string
	Role Role // the user's role in it
}

// Project is a project as one user sees it: what every project page needs.
type Project struct {
	ID                  string
	Name                string
	Timezone            string
	Domains             []string
	AllowBrowserRevenue bool
	Org                 Organization
}

// CanManage reports whether the user may change the project's settings and
// clients.
func (p Project) CanManage() bool { return p.Org.Role.AtLeast(Admin) }

// notFound is the one answer for "does not exist" and "not yours", so ids
// of other organizations cannot be probed.
func notFound(what string) error { return errs.E(errs.NotFound, "no such %s", what) }

// Organizations lists the organizations a user belongs to, by name.
func (s *Store) Organizations(ctx context.Context, userID uuid.UUID) ([]Organization, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
		WHERE m.user_id = $1 ORDER BY lower(o.name), o.id`, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organization, error) {
		var o Organization
		err := r.Scan(&o.ID, &o.Name, &o.Role)
		return o, err
	})
}

// Organization loads one organization with the user's role; NotFound when
// the user is not a member.
func (s *Store) Organization(ctx context.Context, userID uuid.UUID, orgID string) (Organization, error) {
	var o Organization
	err := s.pool.QueryRow(ctx, `
		SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
		WHERE m.user_id = $1 AND m.organization_id = $2`, userID, orgID).Scan(&o.ID, &o.Name, &o.Role)
	if err == pgx.ErrNoRows {
		return Organization{}, notFound("organization")
	}
	return o, err
}

// visibleProjects is the access rule in one place: owners and admins see
// every project of their organization, members and viewers the granted ones.
const visibleProjects = `
	SELECT p.id, p.name, p.timezone, p.domains, p.allow_browser_revenue, o.id, o.name, m.role
	FROM memberships m
	JOIN organizations o ON o.id = m.organization_id
	JOIN projects p ON p.organization_id = m.organization_id
	WHERE m.user_id = $1
	  AND (m.role IN ('owner', 'admin')
	       OR EXISTS (SELECT 1 FROM project_access a WHERE a.user_id = m.user_id AND a.project_id = p.id))`

func scanProject(r pgx.Row) (Project, error) {
	var p Project
	err := r.Scan(&p.ID, &p.Name, &p.Timezone, &p.Domains, &p.AllowBrowserRevenue, &p.Org.ID, &p.Org.Name, &p.Org.Role)
	return p, err
}

// Project loads a project the user may see; NotFound otherwise (also when
// it belongs to an organization the user is not in).
func (s *Store) Project(ctx context.Context, userID uuid.UUID, projectID string) (Project, error) {
	p, err := scanProject(s.pool.QueryRow(ctx, visibleProjects+` AND p.id = $2`, userID, projectID))
	if err == pgx.ErrNoRows {
		return Project{}, notFound("project")
	}
	return p, err
}

// Projects lists every project the user may see, grouped by organization.
func (s *Store) Projects(ctx context.Context, userID uuid.UUID) ([]Project, error) {
	rows, err := s.pool.Query(ctx, visibleProjects+` ORDER BY lower(o.name), o.id, lower(p.name), p.id`, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Project, error) { return scanProject(r) })
}
