// Command livehouse runs the Livehouse live-streaming platform.
package main

import (
	"context"
	"os"

	"github.com/livehouse/livehouse/internal/app"
)

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
