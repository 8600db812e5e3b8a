package live

import "github.com/livehouse/livehouse/internal/store"

// NowSQL is an SQL expression for the database's clock in Unix ms. Leases
// and claims are written and judged on this one clock, so the clocks of the
// nodes need not agree with each other.
func NowSQL(d store.Dialect) string {
	if d == store.Postgres {
		return `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`
}
