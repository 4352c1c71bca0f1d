package accounts

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tally/app/errs"
)

// InvitationLifetime is how long an invitation link works.
const InvitationLifetime = 7 * 24 * time.Hour

// Invitation is a pending invitation to an organization.
type Invitation struct {
	ID        int64
	OrgID     string
	OrgName   string
	Email     string
	Role      Role
	Projects  []ProjectRef
	InvitedBy string // the inviter's display name; "" when their account is gone
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Invite creates a one-time invitation link to the organization for an
// email address and returns its token (only its SHA-256 is stored). A new
// invitation for the same email replaces the pending one. Owners are made
// after joining, so the role is admin, member or viewer; project ids must
// belong to the organization.
func (s *Store) Invite(ctx context.Context, orgID string, invitedBy uuid.UUID, email string, role Role, projectIDs []string) (string, Invitation, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", Invitation{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", Invitation{}, err
	}
	if role == Owner {
		return "", Invitation{}, errs.E(errs.Invalid, "invite as admin, member or viewer; make them owner once they have joined")
	}
	projectIDs = dedup(projectIDs)
	token, hash := newToken()
	var inv Invitation
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		actorRole, err := lockOrg(ctx, tx, orgID, invitedBy)
		if err != nil {
			return err
		}
		if !actorRole.AtLeast(Admin) {
			return errs.E(errs.Forbidden, "your role does not allow this: ask an admin of the organization")
		}
		if err := checkOrgProjects(ctx, tx, orgID, projectIDs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM invitations WHERE organization_id = $1 AND email = $2 AND accepted_at IS NULL`, orgID, email); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO invitations (token_hash, organization_id, email, role, project_ids, invited_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			hash, orgID, email, role, projectIDs, invitedBy, s.now().Add(InvitationLifetime)).Scan(&id); err != nil {
			return err
		}
		inv, err = loadInvitation(ctx, tx, `i.id = $1`, id)
		return err
	})
	if err != nil {
		return "", Invitation{}, err
	}
	return token, inv, nil
}

// invitationSelect reads an invitation with its organization, inviter and
// the names of the projects that still exist.
const invitationSelect = `
	SELECT i.id, i.organization_id, o.name, i.email, i.role, i.created_at, i.expires_at,
	       coalesce(nullif(u.name, ''), u.email, ''),
	       coalesce((SELECT array_agg(p.id ORDER BY lower(p.name), p.id) FROM projects p
	                 WHERE p.organization_id = i.organization_id AND p.id = ANY(i.project_ids)), '{}'),
	       coalesce((SELECT array_agg(p.name ORDER BY lower(p.name), p.id) FROM projects p
	                 WHERE p.organization_id = i.organization_id AND p.id = ANY(i.project_ids)), '{}')
	FROM invitations i
	JOIN organizations o ON o.id = i.organization_id
	LEFT JOIN users u ON u.id = i.invited_by
	WHERE i.accepted_at IS NULL AND i.expires_at > now()
	  -- An invitation carries its inviter's authority: it dies with it
	  -- (an admin removed or demoted cannot come back through a link).
	  AND EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = i.organization_id
	              AND m.user_id = i.invited_by AND m.role IN ('owner', 'admin'))
	  AND `

func scanInvitation(r pgx.Row) (Invitation, error) {
	var inv Invitation
	var ids, names []string
	err := r.Scan(&inv.ID, &inv.OrgID, &inv.OrgName, &inv.Email, &inv.Role, &inv.CreatedAt, &inv.ExpiresAt, &inv.InvitedBy, &ids, &names)
	for i := range ids {
		inv.Projects = append(inv.Projects, ProjectRef{ID: ids[i], Name: names[i]})
	}
	return inv, err
}

func loadInvitation(ctx context.Context, q querier, where string, args ...any) (Invitation, error) {
	inv, err := scanInvitation(q.QueryRow(ctx, invitationSelect+where, args...))
	if err == pgx.ErrNoRows {
		return Invitation{}, errs.E(errs.NotFound, "this invitation is invalid, has expired or has been used")
	}
	return inv, err
}

// PendingInvitations lists the invitations of an organization that are
// neither accepted nor expired, newest first.
func (s *Store) PendingInvitations(ctx context.Context, orgID string) ([]Invitation, error) {
	rows, err := s.pool.Query(ctx, invitationSelect+`i.organization_id = $1 ORDER BY i.created_at DESC, i.id DESC`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invitation, error) { return scanInvitation(r) })
}

// RevokeInvitation deletes a pending invitation of the organization.
func (s *Store) RevokeInvitation(ctx context.Context, orgID string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM invitations WHERE organization_id = $1 AND id = $2 AND accepted_at IS NULL`, orgID, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "no such invitation")
	}
	return nil
}

// Invitation loads the pending invitation of a link; NotFound when the
// token is unknown, expired or used.
func (s *Store) Invitation(ctx context.Context, token string) (Invitation, error) {
	return loadInvitation(ctx, s.pool, `i.token_hash = $1`, hashToken(token))
}

// AcceptInvitation makes the user a member as invited, in one transaction:
// the membership (a member already keeps the higher of both roles), the
// project grants, and the invitation marked used.
func (s *Store) AcceptInvitation(ctx context.Context, token string, userID uuid.UUID) (Invitation, error) {
	var inv Invitation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		inv, err = acceptTx(ctx, tx, token, userID)
		return err
	})
	return inv, err
}

// AcceptInvitationNewUser creates the account of the invited email and
// accepts the invitation with it, in one transaction.
func (s *Store) AcceptInvitationNewUser(ctx context.Context, token, name, password string) (User, Invitation, error) {
	var u User
	var inv Invitation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if inv, err = lockInvitation(ctx, tx, token); err != nil {
			return err
		}
		if u, err = s.createUser(ctx, tx, inv.Email, name, password); err != nil {
			return err
		}
		inv, err = acceptTx(ctx, tx, token, u.ID)
		return err
	})
	if err != nil {
		return User{}, Invitation{}, err
	}
	return u, inv, nil
}

// lockInvitation loads a pending invitation and locks it against a
// concurrent acceptance.
func lockInvitation(ctx context.Context, tx pgx.Tx, token string) (Invitation, error) {
	return loadInvitation(ctx, tx, `i.token_hash = $1 FOR UPDATE OF i`, hashToken(token))
}

func acceptTx(ctx context.Context, tx pgx.Tx, token string, userID uuid.UUID) (Invitation, error) {
	inv, err := lockInvitation(ctx, tx, token)
	if err != nil {
		return Invitation{}, err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (organization_id, user_id) DO UPDATE SET role =
			CASE WHEN array_position(ARRAY['viewer','member','admin','owner'], memberships.role)
			       >= array_position(ARRAY['viewer','member','admin','owner'], EXCLUDED.role)
			     THEN memberships.role ELSE EXCLUDED.role END`,
		inv.OrgID, userID, inv.Role); err != nil {
		return Invitation{}, err
	}
	ids := make([]string, len(inv.Projects))
	for i, p := range inv.Projects {
		ids[i] = p.ID
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO project_access (organization_id, user_id, project_id)
		SELECT $1, $2, p.id FROM projects p WHERE p.organization_id = $1 AND p.id = ANY($3)
		ON CONFLICT DO NOTHING`, inv.OrgID, userID, ids); err != nil {
		return Invitation{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = now() WHERE id = $1`, inv.ID); err != nil {
		return Invitation{}, err
	}
	return inv, nil
}
