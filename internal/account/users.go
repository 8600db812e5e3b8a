package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// Errors of the user service.
var (
	ErrUsernameTaken = httpjson.NewProblem(http.StatusConflict, "username_taken", "that username (or one that looks the same) is taken")
	ErrBadLogin      = httpjson.NewProblem(http.StatusUnauthorized, "bad_login", "wrong username or password")
	ErrNoUser        = httpjson.NewProblem(http.StatusNotFound, "", "no such user")
)

// argon2id parameters: OWASP's first recommendation (m=19 MiB, t=2, p=1);
// about 30 ms on this machine's cores.
var argonParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Users reads and writes accounts.
type Users struct {
	db *store.DB
	// dummyHash is verified against for unknown names, so a login for a
	// missing user costs as much as one for a real user.
	dummyHash string
}

// NewUsers returns the account service.
func NewUsers(db *store.DB) (*Users, error) {
	h, err := argon2id.CreateHash("livehouse-timing-equaliser", argonParams)
	if err != nil {
		return nil, err
	}
	return &Users{db: db, dummyHash: h}, nil
}

// NewUser is what creating an account takes.
type NewUser struct {
	Username  string
	Password  string
	Email     string
	IsAdmin   bool
	CanStream bool
}

// Create validates and stores a new account.
func (s *Users) Create(ctx context.Context, in NewUser) (policy.User, error) {
	display, key, err := NormalizeUsername(in.Username)
	if err != nil {
		return policy.User{}, err
	}
	if err := checkPassword(in.Password, display); err != nil {
		return policy.User{}, err
	}
	if len(in.Email) > 254 || (in.Email != "" && !looksLikeEmail(in.Email)) {
		return policy.User{}, invalidCode("email_invalid", "email address is not valid")
	}
	hash, err := argon2id.CreateHash(in.Password, argonParams)
	if err != nil {
		return policy.User{}, fmt.Errorf("hash password: %w", err)
	}
	u := policy.User{Username: display, Email: in.Email, IsAdmin: in.IsAdmin, CanStream: in.CanStream, CreatedAt: time.UnixMilli(store.Now())}
	err = s.db.QueryRowContext(ctx, `INSERT INTO users (username, username_key, email, password_hash, is_admin, can_stream, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		display, key, in.Email, hash, in.IsAdmin, in.CanStream, u.CreatedAt.UnixMilli()).Scan(&u.ID)
	if store.IsUniqueViolation(err) {
		return policy.User{}, ErrUsernameTaken
	}
	if err != nil {
		return policy.User{}, fmt.Errorf("insert user: %w", err)
	}
	return u, nil
}

func looksLikeEmail(s string) bool {
	at := 0
	for i, r := range s {
		if r == '@' {
			if at != 0 {
				return false
			}
			at = i
		}
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return at > 0 && at < len(s)-1
}

const userColumns = `id, username, email, is_admin, can_stream, xp, created_at`

func scanUser(row interface{ Scan(...any) error }) (policy.User, error) {
	var u policy.User
	var created int64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.IsAdmin, &u.CanStream, &u.XP, &created)
	u.CreatedAt = time.UnixMilli(created)
	return u, err
}

// Get returns a live (not deleted) account by id.
func (s *Users) Get(ctx context.Context, id int64) (policy.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND deleted_at IS NULL`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return policy.User{}, ErrNoUser
	}
	return u, err
}

// Closed reports whether an account was deleted (or never existed), for
// domains that act for an account later (membership renewals).
func (s *Users) Closed(ctx context.Context, id int64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read account state: %w", err)
	}
	return n == 0, nil
}

// ByName finds an account by any spelling that normalises to its name.
func (s *Users) ByName(ctx context.Context, name string) (policy.User, error) {
	_, key, err := NormalizeUsername(name)
	if err != nil {
		return policy.User{}, ErrNoUser
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username_key = $1 AND deleted_at IS NULL`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return policy.User{}, ErrNoUser
	}
	return u, err
}

// Authenticate checks a username and password.
func (s *Users) Authenticate(ctx context.Context, name, password string) (policy.User, error) {
	var hash string
	var u policy.User
	_, key, nerr := NormalizeUsername(name)
	err := sql.ErrNoRows
	if nerr == nil {
		var created int64
		err = s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE username_key = $1 AND deleted_at IS NULL`, key).
			Scan(&u.ID, &u.Username, &u.Email, &u.IsAdmin, &u.CanStream, &u.XP, &created, &hash)
		u.CreatedAt = time.UnixMilli(created)
	}
	if errors.Is(err, sql.ErrNoRows) {
		_, _ = argon2id.ComparePasswordAndHash(password, s.dummyHash)
		return policy.User{}, ErrBadLogin
	}
	if err != nil {
		return policy.User{}, fmt.Errorf("read user: %w", err)
	}
	if len(password) > maxPassword {
		return policy.User{}, ErrBadLogin
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return policy.User{}, fmt.Errorf("check password: %w", err)
	}
	if !ok {
		return policy.User{}, ErrBadLogin
	}
	return u, nil
}

// SetPassword replaces a password, ends every session of the account except
// keepSessionHash (the one that asked, if any) and revokes its personal
// tokens: whoever knew the old password may have made one.
func (s *Users) SetPassword(ctx context.Context, id int64, password string, keepSessionHash string) error {
	u, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := checkPassword(password, u.Username); err != nil {
		return err
	}
	hash, err := argon2id.CreateHash(password, argonParams)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, id); err != nil {
			return fmt.Errorf("update password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, id, keepSessionHash); err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, store.Now(), id); err != nil {
			return fmt.Errorf("revoke personal tokens: %w", err)
		}
		return nil
	})
}

// Delete closes an account: its sessions and tokens end, its name is freed
// and its personal data is erased; the row stays so history keeps an author.
func (s *Users) Delete(ctx context.Context, id int64) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET deleted_at = $1, username = $2, username_key = $2, email = '', password_hash = ''
			WHERE id = $3 AND deleted_at IS NULL`, store.Now(), fmt.Sprintf("deleted-%d", id), id)
		if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoUser
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, store.Now(), id)
		return err
	})
}

// SetRoles grants or revokes admin and streamer rights.
func (s *Users) SetRoles(ctx context.Context, id int64, isAdmin, canStream bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET is_admin = $1, can_stream = $2 WHERE id = $3 AND deleted_at IS NULL`, isAdmin, canStream, id)
	if err != nil {
		return fmt.Errorf("set roles: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoUser
	}
	return nil
}

// AddXP credits experience (watch time, participation, later spending).
func (s *Users) AddXP(ctx context.Context, id int64, xp int64) error {
	if xp <= 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `UPDATE users SET xp = xp + $1 WHERE id = $2`, xp, id)
	return err
}

// WatchXPInterval is how much watching earns one experience point.
const WatchXPInterval = time.Minute

// AwardWatchXP credits one point for a minute of watching a live stream.
// It is a single conditional update, so concurrent heartbeats (two tabs,
// two nodes) earn at most one point per interval. It reports whether a
// point was earned.
func (s *Users) AwardWatchXP(ctx context.Context, id int64, now time.Time) (bool, error) {
	// 5 s of slack: a heartbeat every minute must not miss by a hair.
	due := now.Add(-WatchXPInterval + 5*time.Second).UnixMilli()
	res, err := s.db.ExecContext(ctx, `UPDATE users SET xp = xp + 1, last_watch_xp_at = $1
		WHERE id = $2 AND deleted_at IS NULL AND last_watch_xp_at <= $3`, now.UnixMilli(), id, due)
	if err != nil {
		return false, fmt.Errorf("award watch xp: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Search lists accounts whose name starts with prefix, for the admin list.
func (s *Users) Search(ctx context.Context, prefix string, limit int) ([]policy.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE deleted_at IS NULL AND username_key LIKE $1 ESCAPE '\' ORDER BY username_key LIMIT $2`,
		likePrefix(prefix), limit)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	defer rows.Close()
	out := []policy.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func likePrefix(prefix string) string {
	if prefix == "" {
		return "%"
	}
	_, key, err := NormalizeUsername(prefix + "xxx") // normalise as a name; drop the padding
	if err != nil {
		key = prefix + "xxx"
	}
	key = key[:len(key)-3]
	out := make([]rune, 0, len(key)+1)
	for _, r := range key {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out) + "%"
}

// Usernames maps account ids to display names (deleted accounts and id 0
// are left out).
func (s *Users) Usernames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	uniq := map[int64]bool{}
	var args []any
	var marks []string
	for _, id := range ids {
		if id == 0 || uniq[id] {
			continue
		}
		uniq[id] = true
		args = append(args, id)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, username FROM users WHERE deleted_at IS NULL AND id IN (`+strings.Join(marks, ",")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read usernames: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = name
	}
	return out, rows.Err()
}

// IDsByNamePrefix finds accounts whose (folded) name starts with prefix.
func (s *Users) IDsByNamePrefix(ctx context.Context, prefix string, limit int) ([]int64, error) {
	users, err := s.Search(ctx, prefix, limit)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	return ids, nil
}

// MakeFirstAccountAdmin makes id an admin and streamer if it is the first
// account ever created (deleted ones count, so it happens once per
// install). One conditional UPDATE: two racing sign-ups cannot both win.
func (s *Users) MakeFirstAccountAdmin(ctx context.Context, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET is_admin = TRUE, can_stream = TRUE
		WHERE id = $1 AND id = (SELECT MIN(id) FROM users)`, id)
	if err != nil {
		return false, fmt.Errorf("first account: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
