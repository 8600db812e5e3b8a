package live

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// identityFile is where a node keeps its identity in its data directory.
const identityFile = "node-identity"

// identity is who this process is to the nodes table. A persisted identity
// is held under an exclusive lock for the life of the process: a second
// process on the same data directory cannot hold it at the same time, so
// reusing the id of the row with this identity is safe even before that
// row's lease ran out (the previous holder is dead: the kernel freed its lock).
type identity struct {
	value     string
	persisted bool
	file      *os.File // holds the lock; nil for an ephemeral identity
}

func randomIdentity() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// loadIdentity reads (or creates) the identity file in dataDir and locks
// it. With no data directory, or when another process holds the lock, the
// identity is ephemeral: this run gets an id of its own.
func loadIdentity(dataDir string) (identity, string, error) {
	if dataDir == "" {
		return identity{value: randomIdentity()}, "no data directory", nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return identity{}, "", fmt.Errorf("create data directory %q: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, identityFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return identity{}, "", fmt.Errorf("open node identity %q: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return identity{value: randomIdentity()}, "another running process holds " + path, nil
		}
		return identity{}, "", fmt.Errorf("lock node identity %q: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return identity{}, "", fmt.Errorf("read node identity %q: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	if len(v) != 32 || strings.Trim(v, "0123456789abcdef") != "" {
		v = randomIdentity()
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt([]byte(v+"\n"), 0)
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return identity{}, "", fmt.Errorf("write node identity %q: %w", path, err)
		}
	}
	return identity{value: v, persisted: true, file: f}, "", nil
}

func (id identity) close() {
	if id.file != nil {
		id.file.Close() // releases the lock
	}
}
