package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/store"
)

const userUsage = `Usage:
  livehouse user create NAME --password PASSWORD [--admin] [--streamer] [--email EMAIL] [--data DIR | --db URL]
  livehouse user reset-password NAME [--password PASSWORD] [--data DIR | --db URL]
      (without --password a new one is generated and printed; every session of the account ends and its API tokens are revoked)
`

// userCommand manages accounts from the command line, with no challenge:
// whoever can run it already controls the server.
func userCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, userUsage)
		return nil
	}
	verb, args := args[0], args[1:]
	if verb != "create" && verb != "reset-password" {
		return fmt.Errorf("unknown user command %q\n\n%s", verb, userUsage)
	}
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	var password, email string
	var admin, streamer bool
	cfg, rest, err := config.LoadWith("livehouse user "+verb, args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&password, "password", "", "the account's password (10+ characters)")
		if verb == "create" {
			fs.StringVar(&email, "email", "", "optional email address")
			fs.BoolVar(&admin, "admin", false, "make the account a platform admin")
			fs.BoolVar(&streamer, "streamer", false, "let the account create channels and stream")
		}
	})
	if err != nil {
		return err
	}
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "" || len(rest) > 0 {
		return fmt.Errorf("give one NAME, right after %q\n\n%s", verb, userUsage)
	}
	db, err := store.Open(ctx, cfg.DBURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, Migrations()...); err != nil {
		return err
	}
	users, err := account.NewUsers(db)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		if password == "" {
			return errors.New("--password is required")
		}
		u, err := users.Create(ctx, account.NewUser{Username: name, Password: password, Email: email, IsAdmin: admin, CanStream: streamer})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (id %d, roles %s)\n", u.Username, u.ID, strings.Join(u.Roles(), ", "))
	case "reset-password":
		u, err := users.ByName(ctx, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		generated := password == ""
		if generated {
			var b [15]byte
			_, _ = rand.Read(b[:])
			password = base64.RawURLEncoding.EncodeToString(b[:])
		}
		if err := users.SetPassword(ctx, u.ID, password, ""); err != nil {
			return err
		}
		if generated {
			fmt.Fprintf(stdout, "new password for %s: %s\n", u.Username, password)
		} else {
			fmt.Fprintf(stdout, "password of %s changed\n", u.Username)
		}
		fmt.Fprintln(stdout, "every session of the account has ended and its API tokens are revoked (open chat connections notice within 5 minutes)")
	}
	return nil
}
