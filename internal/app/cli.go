package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/store"
)

const usage = `Livehouse: a self-hosted live-streaming platform.

Usage:
  livehouse [serve] [flags]   run the server (the default)
  livehouse migrate [flags]   apply database migrations and exit
  livehouse user ...          create accounts, reset passwords ("livehouse user help")
  livehouse wallet grant NAME COINS --reason TEXT
                              credit coins (the manual payment provider)
  livehouse ledger verify     recompute every balance from the ledger; non-zero exit on any difference
  livehouse moderation ...    classify text, train the classifier ("livehouse moderation help")
  livehouse bench [flags]     measure ingest-to-LL-HLS lag and per-stream cost
  livehouse help              this text; "livehouse serve --help" lists every setting
`

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stdout, stderr, getenv)
	case "migrate":
		err = migrate(ctx, args, stdout, stderr, getenv)
	case "user":
		err = userCommand(ctx, args, stdout, stderr, getenv)
	case "wallet":
		err = walletCommand(ctx, args, stdout, stderr, getenv)
	case "ledger":
		err = ledgerCommand(ctx, args, stdout, stderr, getenv)
	case "moderation":
		err = moderationCommand(ctx, args, stdout, stderr, getenv)
	case "bench":
		err = runBench(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "livehouse %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cpuProfile string
	cfg, rest, err := config.LoadWith("livehouse serve", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof); for benchmarks")
	})
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q (settings are flags like --http :8080)", rest[0])
	}
	if err != nil {
		return err
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	log := newLogger(cfg, stderr)
	if limit, err := raiseOpenFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "limit", limit, "err", err)
	} else if limit > 0 && limit < 65536 {
		log.Warn("open-file limit is low: every viewer holds one (raise LimitNOFILE or ulimit -n)", "limit", limit)
	} else {
		log.Debug("open-file limit", "limit", limit)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	a.PrintWelcome(stdout)
	<-ctx.Done()
	stop()
	if cfg.DrainTimeout > 0 {
		// Drain first; a second SIGINT/SIGTERM cuts it short.
		again, stopAgain := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		a.Drain(again, cfg.DrainTimeout)
		stopAgain() // a further signal now kills the process the default way
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// startCPUProfile profiles the process into path until the returned func
// runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := config.Load("livehouse migrate", args, getenv, stderr)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DBURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, Migrations()...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied to %s\n", db.Location)
	return nil
}
