package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync/atomic"

	"modernc.org/sqlite"
)

// Livehouse writes $N placeholders for both engines. SQLite accepts $N, but
// as *named* parameters: parsing a statement looks each one up in a linear
// list, and so does binding each argument, so a multi-row INSERT with n
// parameters costs O(n²) — profiled at half of all CPU in the gift writer's
// 1,600-parameter statements. Anonymous ? parameters skip that list. This
// connector rewrites $N to ? (repeating or reordering the arguments to
// match) before the statement reaches SQLite; code above sees no difference.

// paramConnector opens modernc SQLite connections that rewrite placeholders.
type paramConnector struct {
	dsn   string
	drv   *sqlite.Driver
	trace *tracer
}

func (c *paramConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &paramConn{Conn: conn, trace: c.trace, stmts: map[string]*cachedStmt{}}, nil
}

// tracer calls a function (set by tests) with every statement sent.
type tracer struct {
	fn atomic.Pointer[func(query string)]
}

func (t *tracer) saw(query string) {
	if fn := t.fn.Load(); fn != nil {
		(*fn)(query)
	}
}

func (c *paramConnector) Driver() driver.Driver { return c.drv }

// rewriteParams turns $N placeholders outside literals, quoted identifiers
// and comments into ?, returning for each ? the index of the argument it
// takes. ok is false when the query has no $N placeholders.
func rewriteParams(query string) (out string, order []int, ok bool) {
	if !strings.Contains(query, "$") {
		return query, nil, false
	}
	var b strings.Builder
	b.Grow(len(query))
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			// A literal or quoted identifier; a doubled quote stays inside.
			j := i + 1
			for j < len(query) {
				if query[j] == c {
					if j+1 < len(query) && query[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(query))
			b.WriteString(query[i:end])
			i = end
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			end := len(query)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(query[i:end])
			i = end
		case c == '$' && i+1 < len(query) && query[i+1] >= '1' && query[i+1] <= '9':
			j := i + 1
			n := 0
			for j < len(query) && query[j] >= '0' && query[j] <= '9' && n < 1_000_000 {
				n = n*10 + int(query[j]-'0')
				j++
			}
			b.WriteByte('?')
			order = append(order, n-1)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), order, len(order) > 0
}

var errParamCount = errors.New("sqlite: a $N placeholder has no argument")

// reorder gives each ? of a rewritten statement its argument.
func reorder(order []int, args []driver.NamedValue) ([]driver.NamedValue, error) {
	out := make([]driver.NamedValue, len(order))
	for k, idx := range order {
		if idx >= len(args) {
			return nil, errParamCount
		}
		out[k] = driver.NamedValue{Ordinal: k + 1, Value: args[idx].Value}
	}
	return out, nil
}

// rewrite applies rewriteParams unless an argument is named (sql.Named),
// which the driver matches by name.
func rewrite(query string, args []driver.NamedValue) (string, []driver.NamedValue, error) {
	for _, a := range args {
		if a.Name != "" {
			return query, args, nil
		}
	}
	q, order, ok := rewriteParams(query)
	if !ok {
		return query, args, nil
	}
	args, err := reorder(order, args)
	return q, args, err
}

// paramConn is a modernc connection whose statements get ? placeholders.
//
// It also keeps the statements it runs prepared, by query text: SQLite
// otherwise parses and plans every query again, which was a third of the
// CPU of a viewer joining a room (two lookups and a history read, each
// parsed from scratch). modernc resets a prepared statement when its rows
// close, so the next run only binds and steps.
type paramConn struct {
	driver.Conn
	trace *tracer
	stmts map[string]*cachedStmt
}

// A connection keeps at most maxCachedStmts statements, and none longer
// than maxCachedQuery bytes (multi-row inserts built per call would only
// churn the cache).
const (
	maxCachedStmts = 200
	maxCachedQuery = 2048
)

// cachedStmt is a statement prepared on one connection for a query text.
type cachedStmt struct {
	stmt  driver.Stmt
	order []int // which argument each ? takes; nil: as given
	busy  bool  // rows of it are open (a nested run of the same query prepares anew)
	// dropped: left the cache while busy; its rows finalize it on close.
	dropped bool
}

// cached returns the prepared statement for query, preparing it on first
// use, or nil when the query should run unprepared: named arguments,
// a long query, or the statement busy with open rows.
func (c *paramConn) cached(ctx context.Context, query string, args []driver.NamedValue) (*cachedStmt, error) {
	if len(query) > maxCachedQuery {
		return nil, nil
	}
	for _, a := range args {
		if a.Name != "" {
			return nil, nil
		}
	}
	if cs := c.stmts[query]; cs != nil {
		if cs.busy {
			return nil, nil
		}
		return cs, nil
	}
	q, order, _ := rewriteParams(query)
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= maxCachedStmts {
		c.closeStmts()
	}
	cs := &cachedStmt{stmt: st, order: order}
	c.stmts[query] = cs
	return cs, nil
}

// args gives each ? of the statement its argument.
func (cs *cachedStmt) args(args []driver.NamedValue) ([]driver.NamedValue, error) {
	if cs.order == nil {
		return args, nil
	}
	return reorder(cs.order, args)
}

func (c *paramConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.trace.saw(query)
	cs, err := c.cached(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if cs != nil {
		a, err := cs.args(args)
		if err != nil {
			return nil, err
		}
		return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, a)
	}
	q, a, err := rewrite(query, args)
	if err != nil {
		return nil, err
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, a)
}

func (c *paramConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.trace.saw(query)
	cs, err := c.cached(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if cs != nil {
		a, err := cs.args(args)
		if err != nil {
			return nil, err
		}
		rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, a)
		if err != nil {
			return nil, err
		}
		cs.busy = true
		return &cachedRows{Rows: rows, stmt: cs}, nil
	}
	q, a, err := rewrite(query, args)
	if err != nil {
		return nil, err
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, a)
}

// cachedRows frees its statement for the next run when closed.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	if r.stmt.dropped {
		if e := r.stmt.stmt.Close(); err == nil {
			err = e
		}
	}
	return err
}

// closeStmts finalizes every cached statement.
func (c *paramConn) closeStmts() {
	for q, cs := range c.stmts {
		if cs.busy {
			cs.dropped = true // its open rows still step it
		} else {
			_ = cs.stmt.Close()
		}
		delete(c.stmts, q)
	}
}

func (c *paramConn) Close() error {
	c.closeStmts()
	return c.Conn.Close()
}

func (c *paramConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.trace.saw(query)
	q, order, ok := rewriteParams(query)
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil || !ok {
		return st, err
	}
	return &paramStmt{Stmt: st, order: order}, nil
}

func (c *paramConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *paramConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *paramConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *paramConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *paramConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

// paramStmt is a prepared statement whose ? take reordered arguments.
type paramStmt struct {
	driver.Stmt
	order []int
}

// NumInput is unknown to database/sql's count check: the caller passes one
// argument per distinct $N, SQLite expects one per ?.
func (s *paramStmt) NumInput() int { return -1 }

func (s *paramStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	a, err := reorder(s.order, args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, a)
}

func (s *paramStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	a, err := reorder(s.order, args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, a)
}
