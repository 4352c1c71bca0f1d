package accounts

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tally/app/errs"
	"tally/app/projects"
)

// ProjectRef names a project in lists of grants.
type ProjectRef struct {
	ID   string
	Name string
}

// OrgMember is one person of an organization with their role and, for
// members and viewers, the projects granted to them.
type OrgMember struct {
	User     User
	Role     Role
	Since    time.Time
	Projects []ProjectRef // granted projects (owners and admins see all regardless)
}

// errLastOwner is the answer to anything that would leave an organization
// without an owner.
var errLastOwner = errs.E(errs.Conflict, "an organization needs at least one owner: make someone else owner first")

// CreateOrganization creates an organization whose owner is the user.
func (s *Store) CreateOrganization(ctx context.Context, userID uuid.UUID, name string) (Organization, error) {
	var o Organization
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := projects.CreateOrganizationTx(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')`, id, userID); err != nil {
			return err
		}
		o = Organization{ID: id, Name: strings.TrimSpace(name), Role: Owner}
		return nil
	})
	return o, err
}

// RenameOrganization renames an organization; only an owner may.
func (s *Store) RenameOrganization(ctx context.Context, orgID string, actor uuid.UUID, name string) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return errs.E(errs.Invalid, "an organization needs a name of 1 to 200 characters")
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		role, err := lockOrg(ctx, tx, orgID, actor)
		if err != nil {
			return err
		}
		if role != Owner {
			return errs.E(errs.Forbidden, "only an owner may rename the organization")
		}
		_, err = tx.Exec(ctx, `UPDATE organizations SET name = $2 WHERE id = $1`, orgID, name)
		return err
	})
}

// lockOrg serializes every change of an organization's members: it locks
// the organization's row (FOR NO KEY UPDATE, which does not block inserts
// that reference it) and returns the actor's role read under that lock.
// Two concurrent demotions of the last two owners therefore run one after
// the other, and the second sees that only one owner is left.
func lockOrg(ctx context.Context, tx pgx.Tx, orgID string, actor uuid.UUID) (Role, error) {
	var locked string
	err := tx.QueryRow(ctx, `SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, orgID).Scan(&locked)
	if err == pgx.ErrNoRows {
		return "", notFound("organization")
	}
	if err != nil {
		return "", err
	}
	var role Role
	err = tx.QueryRow(ctx, `SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2`, orgID, actor).Scan(&role)
	if err == pgx.ErrNoRows {
		return "", notFound("organization")
	}
	return role, err
}

// memberRole is the role of a member, NotFound if they are none.
func memberRole(ctx context.Context, tx pgx.Tx, orgID string, userID uuid.UUID) (Role, error) {
	var role Role
	err := tx.QueryRow(ctx, `SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2`, orgID, userID).Scan(&role)
	if err == pgx.ErrNoRows {
		return "", errs.E(errs.NotFound, "no such member")
	}
	return role, err
}

func ownerCount(ctx context.Context, tx pgx.Tx, orgID string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'`, orgID).Scan(&n)
	return n, err
}

// mayManage checks the actor's right to change a member whose role is
// target (and, for role changes, will be next): admins manage everyone but
// owners; only owners make or change owners.
func mayManage(actor, target, next Role) error {
	if !actor.AtLeast(Admin) {
		return errs.E(errs.Forbidden, "your role does not allow this: ask an admin of the organization")
	}
	if (target == Owner || next == Owner) && actor != Owner {
		return errs.E(errs.Forbidden, "only an owner may make someone owner or change an owner")
	}
	return nil
}

// Members lists an organization's members by name, with their grants.
func (s *Store) Members(ctx context.Context, orgID string) ([]OrgMember, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT u.id, u.email, u.name, u.created_at, u.sessions_valid_after, m.role, m.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1
		ORDER BY array_position(ARRAY['owner','admin','member','viewer'], m.role), lower(coalesce(nullif(u.name, ''), u.email)), u.id`, orgID)
	if err != nil {
		return nil, err
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OrgMember, error) {
		var m OrgMember
		err := r.Scan(&m.User.ID, &m.User.Email, &m.User.Name, &m.User.CreatedAt, &m.User.SessionsValidAfter, &m.Role, &m.Since)
		return m, err
	})
	if err != nil {
		return nil, err
	}
	rows, err = s.pool.Query(ctx, `
		SELECT a.user_id, p.id, p.name FROM project_access a JOIN projects p ON p.id = a.project_id
		WHERE a.organization_id = $1 ORDER BY lower(p.name), p.id`, orgID)
	if err != nil {
		return nil, err
	}
	grants := map[uuid.UUID][]ProjectRef{}
	var uid uuid.UUID
	var ref ProjectRef
	_, err = pgx.ForEachRow(rows, []any{&uid, &ref.ID, &ref.Name}, func() error {
		grants[uid] = append(grants[uid], ref)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range members {
		members[i].Projects = grants[members[i].User.ID]
	}
	return members, nil
}

// SetRole changes a member's role. Admins may set admin, member and
// viewer for anyone but owners; only an owner may make someone owner or
// change an owner; the last owner cannot be demoted.
func (s *Store) SetRole(ctx context.Context, orgID string, actor, userID uuid.UUID, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		actorRole, err := lockOrg(ctx, tx, orgID, actor)
		if err != nil {
			return err
		}
		current, err := memberRole(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if err := mayManage(actorRole, current, role); err != nil {
			return err
		}
		if current == role {
			return nil
		}
		if current == Owner {
			if n, err := ownerCount(ctx, tx, orgID); err != nil {
				return err
			} else if n <= 1 {
				return errLastOwner
			}
		}
		_, err = tx.Exec(ctx, `UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2`, orgID, userID, role)
		return err
	})
}

// SetProjectAccess replaces the projects granted to a member (what members
// and viewers see; owners and admins see every project anyway). Every id
// must be a project of the organization.
func (s *Store) SetProjectAccess(ctx context.Context, orgID string, actor, userID uuid.UUID, projectIDs []string) error {
	projectIDs = dedup(projectIDs)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		actorRole, err := lockOrg(ctx, tx, orgID, actor)
		if err != nil {
			return err
		}
		current, err := memberRole(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if err := mayManage(actorRole, current, current); err != nil {
			return err
		}
		if err := checkOrgProjects(ctx, tx, orgID, projectIDs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM project_access WHERE organization_id = $1 AND user_id = $2 AND NOT (project_id = ANY($3))`,
			orgID, userID, projectIDs); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO project_access (organization_id, user_id, project_id)
			SELECT $1, $2, p FROM unnest($3::text[]) p ON CONFLICT DO NOTHING`, orgID, userID, projectIDs)
		return err
	})
}

// checkOrgProjects makes sure every id names a project of the organization.
func checkOrgProjects(ctx context.Context, tx pgx.Tx, orgID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM projects WHERE organization_id = $1 AND id = ANY($2)`, orgID, ids).Scan(&n); err != nil {
		return err
	}
	if n != len(ids) {
		return errs.E(errs.Invalid, "unknown project: grant only projects of this organization")
	}
	return nil
}

// RemoveMember takes someone out of an organization (their grants go with
// the membership). Removing an owner takes an owner, and the last owner
// stays.
func (s *Store) RemoveMember(ctx context.Context, orgID string, actor, userID uuid.UUID) error {
	if actor == userID {
		return s.Leave(ctx, orgID, userID)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		actorRole, err := lockOrg(ctx, tx, orgID, actor)
		if err != nil {
			return err
		}
		current, err := memberRole(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if err := mayManage(actorRole, current, current); err != nil {
			return err
		}
		return deleteMember(ctx, tx, orgID, userID, current)
	})
}

// Leave takes the user out of an organization, unless they are its last
// owner.
func (s *Store) Leave(ctx context.Context, orgID string, userID uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		role, err := lockOrg(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		return deleteMember(ctx, tx, orgID, userID, role)
	})
}

func deleteMember(ctx context.Context, tx pgx.Tx, orgID string, userID uuid.UUID, role Role) error {
	if role == Owner {
		if n, err := ownerCount(ctx, tx, orgID); err != nil {
			return err
		} else if n <= 1 {
			return errLastOwner
		}
	}
	_, err := tx.Exec(ctx, `DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, orgID, userID)
	return err
}

// dedup drops empty and repeated ids, keeping the order.
func dedup(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
