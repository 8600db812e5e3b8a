package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

// Viewers' coins coming in through the manual provider: top-up orders an
// admin confirms.

// TopupOrder is a viewer's request to buy a package through the manual
// provider (paid outside Livehouse, confirmed by an admin).
type TopupOrder struct {
	ID        int64      `json:"id"`
	UserID    int64      `json:"user_id"`
	Package   string     `json:"package"`
	Coins     int64      `json:"coins"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// Duplicate: this answers a retry of an order already placed.
	Duplicate bool `json:"duplicate"`
}

// RequestTopup opens a top-up order for a package. A key makes it
// idempotent like a withdrawal request's.
func (s *Service) RequestTopup(ctx context.Context, userID int64, packageID, key string) (TopupOrder, error) {
	if err := checkKey(key); err != nil {
		return TopupOrder{}, err
	}
	if prev, ok, err := s.existingTopup(ctx, userID, key, packageID); err != nil || ok {
		return prev, err
	}
	o := TopupOrder{UserID: userID, Package: packageID, Status: StatusPending}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT coins FROM topup_packages WHERE id = $1 AND active`, packageID).Scan(&o.Coins)
		if errors.Is(err, sql.ErrNoRows) {
			return &InputError{Msg: "unknown package " + strconv.Quote(packageID)}
		}
		if err != nil {
			return err
		}
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM topup_orders WHERE user_id = $1 AND status = 'pending'`, userID).Scan(&pending); err != nil {
			return err
		}
		if pending >= 5 {
			return ErrTooManyPending
		}
		now := store.Now()
		o.CreatedAt = time.UnixMilli(now)
		return tx.QueryRowContext(ctx, `INSERT INTO topup_orders (user_id, package_id, status, created_at, idempotency_key) VALUES ($1, $2, 'pending', $3, $4) RETURNING id`,
			userID, packageID, now, nullKey(key)).Scan(&o.ID)
	})
	if err != nil && key != "" {
		if prev, ok, err2 := s.existingTopup(ctx, userID, key, packageID); err2 != nil || ok {
			return prev, err2
		}
	}
	return o, err
}

// existingTopup returns the order already placed with this key.
func (s *Service) existingTopup(ctx context.Context, userID int64, key, packageID string) (TopupOrder, bool, error) {
	if key == "" {
		return TopupOrder{}, false, nil
	}
	o, err := scanTopup(s.db.QueryRowContext(ctx, `SELECT `+topupColumns+` FROM topup_orders o JOIN topup_packages p ON p.id = o.package_id
		WHERE o.user_id = $1 AND o.idempotency_key = $2`, userID, key).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return TopupOrder{}, false, nil
	}
	if err != nil {
		return TopupOrder{}, false, err
	}
	if o.Package != packageID {
		return TopupOrder{}, false, ErrKeyReused
	}
	o.Duplicate = true
	return o, true, nil
}

// DecideTopup confirms (credits the package, once) or rejects an order.
func (s *Service) DecideTopup(ctx context.Context, id int64, approve bool, actorID int64) (TopupOrder, error) {
	o, err := s.topup(ctx, id)
	if err != nil {
		return TopupOrder{}, err
	}
	user, prov, err := s.paymentAccounts(ctx, "manual", o.UserID)
	if err != nil {
		return TopupOrder{}, err
	}
	status := StatusApproved
	if !approve {
		status = StatusRejected
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE topup_orders SET status = $1, decided_at = $2, decided_by = $3 WHERE id = $4 AND status = 'pending'`,
			status, store.Now(), actorID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotPending
		}
		if !approve {
			return nil
		}
		_, err = creditPayment(ctx, tx, "manual", fmt.Sprintf("order-%d", id), o.UserID, o.Package, user, prov)
		return err
	})
	if err != nil {
		return TopupOrder{}, err
	}
	return s.topup(ctx, id)
}

const topupColumns = `o.id, o.user_id, o.package_id, p.coins, o.status, o.created_at, o.decided_at`

func scanTopup(sc func(...any) error) (TopupOrder, error) {
	var o TopupOrder
	var created int64
	var decided sql.NullInt64
	if err := sc(&o.ID, &o.UserID, &o.Package, &o.Coins, &o.Status, &created, &decided); err != nil {
		return TopupOrder{}, err
	}
	o.CreatedAt = time.UnixMilli(created)
	if decided.Valid {
		t := time.UnixMilli(decided.Int64)
		o.DecidedAt = &t
	}
	return o, nil
}

func (s *Service) topup(ctx context.Context, id int64) (TopupOrder, error) {
	o, err := scanTopup(s.db.QueryRowContext(ctx, `SELECT `+topupColumns+` FROM topup_orders o JOIN topup_packages p ON p.id = o.package_id WHERE o.id = $1`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return TopupOrder{}, ErrNoRequest
	}
	return o, err
}

// Topups lists orders, newest first: of one user (userID > 0) and/or in
// one status (status != "").
func (s *Service) Topups(ctx context.Context, userID int64, status string, limit int) ([]TopupOrder, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+topupColumns+` FROM topup_orders o JOIN topup_packages p ON p.id = o.package_id
		WHERE ($1 = 0 OR o.user_id = $1) AND ($2 = '' OR o.status = $2) ORDER BY o.id DESC LIMIT $3`, userID, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list top-ups: %w", err)
	}
	defer rows.Close()
	out := []TopupOrder{}
	for rows.Next() {
		o, err := scanTopup(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
