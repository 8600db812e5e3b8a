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
	return &paramConn{Conn: conn, trace: c.trace}, nil
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
type paramConn struct {
	driver.Conn
	trace *tracer
}

func (c *paramConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.trace.saw(query)
	q, a, err := rewrite(query, args)
	if err != nil {
		return nil, err
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, a)
}

func (c *paramConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.trace.saw(query)
	q, a, err := rewrite(query, args)
	if err != nil {
		return nil, err
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, a)
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
