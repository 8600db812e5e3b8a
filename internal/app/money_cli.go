package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/store"
)

func openMoney(ctx context.Context, cfg config.Config) (*store.DB, *money.Service, error) {
	db, err := store.Open(ctx, cfg.DBURL, cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if err := db.Migrate(ctx, Migrations()...); err != nil {
		db.Close()
		return nil, nil, err
	}
	users, err := account.NewUsers(db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	deps := money.Deps{Accounts: users, Channels: channel.NewService(db)}
	return db, money.NewService(db, int64(cfg.PlatformSharePercent)*100, newLogger(cfg, io.Discard), deps), nil
}

// walletCommand: livehouse wallet grant NAME COINS --reason TEXT (the
// manual payment provider from the command line).
func walletCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: livehouse wallet grant NAME COINS --reason TEXT [--data DIR | --db URL]"
	if len(args) < 3 || args[0] != "grant" {
		return fmt.Errorf("%s", usage)
	}
	name := args[1]
	coins, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return fmt.Errorf("COINS must be a whole number\n%s", usage)
	}
	var reason string
	cfg, rest, err := config.LoadWith("livehouse wallet grant", args[3:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&reason, "reason", "", "why the coins are granted (kept in the ledger)")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected %q\n%s", rest[0], usage)
	}
	db, m, err := openMoney(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := account.NewUsers(db)
	if err != nil {
		return err
	}
	u, err := users.ByName(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	bal, err := m.Grant(ctx, u.ID, coins, "manual: "+strings.TrimSpace(reason), 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "granted %d coins to %s; balance %d\n", coins, u.Username, bal)
	return nil
}

// ledgerCommand: livehouse ledger verify exits non-zero on any difference
// (money.Service.Verify: balances, transactions, and every movement against
// its source row).
func ledgerCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) < 1 || args[0] != "verify" {
		return fmt.Errorf("usage: livehouse ledger verify [--data DIR | --db URL]")
	}
	cfg, err := config.Load("livehouse ledger verify", args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	db, m, err := openMoney(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := m.Verify(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d accounts, %d transactions, %d source rows checked\n", rep.Accounts, rep.Transactions, rep.Sources)
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, "  "+p)
		}
		return fmt.Errorf("%d problems in the ledger", len(rep.Problems))
	}
	fmt.Fprintln(stdout, "every balance matches its entries; every transaction sums to zero and matches its source rows "+
		"(gifts, trial gifts, memberships, top-ups and payments, withdrawals, grants)")
	return nil
}
