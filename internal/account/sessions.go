package account

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// SessionTTL is how long a login lasts without being renewed.
const SessionTTL = 30 * 24 * time.Hour

func randomToken(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Sessions stores logins. Only token hashes are stored, so a database leak
// does not hand out logins.
type Sessions struct{ db *store.DB }

// NewSession starts a login and returns the cookie value. Each login gets a
// fresh token, so a token planted before login (session fixation) is useless.
func (s *Sessions) NewSession(ctx context.Context, userID int64) (token string, sess policy.Session, err error) {
	token = randomToken("")
	sess = policy.Session{TokenHash: hashSecret(token), UserID: userID, CSRF: randomToken(""), ExpiresAt: time.Now().Add(SessionTTL)}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sess.TokenHash, userID, sess.CSRF, store.Now(), sess.ExpiresAt.UnixMilli())
	if err != nil {
		return "", policy.Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

// Lookup returns the live session for a cookie value.
func (s *Sessions) Lookup(ctx context.Context, token string) (policy.Session, bool, error) {
	if token == "" || len(token) > 128 {
		return policy.Session{}, false, nil
	}
	var sess policy.Session
	var exp int64
	err := s.db.QueryRowContext(ctx, `SELECT token_hash, user_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1`, hashSecret(token)).
		Scan(&sess.TokenHash, &sess.UserID, &sess.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return policy.Session{}, false, nil
	}
	if err != nil {
		return policy.Session{}, false, fmt.Errorf("read session: %w", err)
	}
	sess.ExpiresAt = time.UnixMilli(exp)
	if time.Now().After(sess.ExpiresAt) {
		_, _ = s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, sess.TokenHash)
		return policy.Session{}, false, nil
	}
	return sess, true, nil
}

// End deletes a session (logout).
func (s *Sessions) End(ctx context.Context, tokenHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	return err
}
