package app

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/moderation/filter"
	"github.com/livehouse/livehouse/internal/store"
)

const moderationUsage = `usage:
  livehouse moderation classify [--data DIR | --db URL] [--channel SLUG] [--level N] [--reasons]
      one message per line on stdin → one JSON line each: {"score","category","verdict"}
  livehouse moderation train [--data DIR | --db URL] [--cold DIR] [--seed N] [--hold-dev]
      train the classifier on COLD train+dev (--hold-dev: train only) and the platform's
      moderator decisions; store it as the newest model (every node loads it)
  livehouse moderation import-terms FILE [--data DIR | --db URL] [--channel SLUG]
      add terms from a TSV file (term, action, category, pinyin 0|1|2 where 2 adds initials;
      # comments); terms the list has are skipped
`

// moderationStdin is what classify reads (tests replace it).
var moderationStdin io.Reader = os.Stdin

// moderationCommand is the content filter from the command line.
func moderationCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, moderationUsage)
		return nil
	}
	switch args[0] {
	case "classify":
		return moderationClassify(ctx, args[1:], stdout, stderr, getenv)
	case "train":
		return moderationTrain(ctx, args[1:], stdout, stderr, getenv)
	case "import-terms":
		return moderationImport(ctx, args[1:], stdout, stderr, getenv)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], moderationUsage)
}

func openFilter(ctx context.Context, cfg config.Config) (*store.DB, *filter.Engine, error) {
	db, err := store.Open(ctx, cfg.DBURL, cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if err := db.Migrate(ctx, Migrations()...); err != nil {
		db.Close()
		return nil, nil, err
	}
	e, err := filter.New(filter.Deps{DB: db, DataDir: cfg.DataDir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, e, nil
}

func moderationClassify(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var slug string
	var level int
	var reasons bool
	cfg, rest, err := config.LoadWith("livehouse moderation classify", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&slug, "channel", "", "also apply this channel's term list")
		fs.IntVar(&level, "level", 2, "channel strictness 0 off … 4 strict (the platform floor still applies)")
		fs.BoolVar(&reasons, "reasons", false, "add each message's reasons (term, normalisation steps, score) to its line")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected %q\n%s", rest[0], moderationUsage)
	}
	db, e, err := openFilter(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	defer e.Close(context.Background())
	var channelID int64
	if slug != "" {
		if channelID, _, err = channel.NewService(db).ChannelOwner(ctx, slug); err != nil {
			return fmt.Errorf("channel %s: %w", slug, err)
		}
	}
	in := bufio.NewScanner(moderationStdin)
	in.Buffer(make([]byte, 64*1024), 1<<20)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		line := strings.TrimRight(in.Text(), "\r")
		r := e.Check(ctx, filter.Input{ChannelID: channelID, Text: line, Level: level, Kind: "chat"})
		if reasons {
			err = enc.Encode(struct {
				filter.Verdict
				Text    string          `json:"text"`
				Reasons []filter.Reason `json:"reasons"`
			}{r.Summary(), r.Text, r.Reasons})
		} else {
			err = enc.Encode(r.Summary())
		}
		if err != nil {
			return err
		}
	}
	return in.Err()
}

func moderationTrain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cold string
	var holdDev bool
	var o filter.TrainOptions
	cfg, rest, err := config.LoadWith("livehouse moderation train", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&cold, "cold", "../shared/datasets/cold", "directory holding COLD's train.csv and dev.csv")
		fs.Int64Var(&o.Seed, "seed", 1, "training seed: one seed gives one model")
		fs.BoolVar(&holdDev, "hold-dev", false, "train on COLD train only, so the dev figures are honest")
		fs.IntVar(&o.Bits, "bits", 18, "feature table size as a power of two")
		fs.IntVar(&o.Epochs, "epochs", 6, "passes over the data")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected %q\n%s", rest[0], moderationUsage)
	}
	db, e, err := openFilter(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	defer e.Close(context.Background())
	m, met, err := e.TrainAndStore(ctx, cold, holdDev, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model %s stored\n%s\ndev accuracy %.4f, macro-F1 %.4f\n", m.Version, m.Metrics, met.Accuracy, met.MacroF1)
	return nil
}

func moderationImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("import-terms needs a FILE\n%s", moderationUsage)
	}
	path := args[0]
	var slug string
	cfg, rest, err := config.LoadWith("livehouse moderation import-terms", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&slug, "channel", "", "add to this channel's list (default: the platform's)")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected %q\n%s", rest[0], moderationUsage)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var terms []filter.Term
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) < 1 || len(p) > 4 {
			return fmt.Errorf("%s:%d: want term<TAB>action<TAB>category<TAB>pinyin", path, i+1)
		}
		for len(p) < 4 {
			p = append(p, "")
		}
		terms = append(terms, filter.Term{Term: p[0], Action: p[1], Category: p[2], Pinyin: p[3] == "1" || p[3] == "2", Initials: p[3] == "2"})
	}
	db, e, err := openFilter(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	defer e.Close(context.Background())
	var channelID int64
	if slug != "" {
		if channelID, _, err = channel.NewService(db).ChannelOwner(ctx, slug); err != nil {
			return fmt.Errorf("channel %s: %w", slug, err)
		}
	}
	for i := range terms {
		terms[i].ChannelID = channelID
	}
	if err := e.AddTerms(ctx, terms, 0); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d terms read; the list now has the new ones (existing terms were kept)\n", len(terms))
	return nil
}
