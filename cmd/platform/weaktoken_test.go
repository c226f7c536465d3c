package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// weakTokenConfig is a configuration whose second static token is one letter repeated.
func weakTokenConfig(t *testing.T, port int, env string) string {
	return writeConfig(t, fmt.Sprintf(`backend:
  listen:
    port: %d
  database:
    connection: %s
  auth:
    externalAccess:
      - type: static
        options: {token: ci-token-0123456789abcdefghij, subject: ci}
      - type: static
        options: {token: %s, subject: weak}
auth:
  environment: %s
`, port, filepath.Join(t.TempDir(), "db.sqlite"), strings.Repeat("a", 22), env))
}

// TestWeakStaticTokenAtStart: production refuses to start with a guessable static token, in
// one line naming the key and the fix; development starts and warns.
func TestWeakStaticTokenAtStart(t *testing.T) {
	t.Parallel()
	const line = "backend.auth.externalAccess[1].options.token: is weak, it has only 1 different characters; a static token needs at least 22 characters of which at least 8 different: generate one with openssl rand -base64 32"

	prod := start(t, "--config", weakTokenConfig(t, freePort(t), "production"))
	require.NotEqual(t, 0, prod.wait(t, 30*time.Second))
	out := strings.TrimRight(prod.stderr.String(), "\n")
	require.NotContains(t, out, "\n", "one line expected, got:\n%s", out)
	require.Contains(t, out, line)
	require.NotContains(t, out, strings.Repeat("a", 22))

	port := freePort(t)
	var logs lockedBuffer // logs go to stdout, start-up failures to stderr
	dev := exec.Command(binary, "--config", weakTokenConfig(t, port, "development"))
	dev.Env = append(os.Environ(), "LOG_LEVEL=warn")
	dev.Stdout, dev.Stderr = &logs, &logs
	require.NoError(t, dev.Start())
	t.Cleanup(func() { _ = dev.Process.Kill(); _ = dev.Wait() })
	waitLive(t, port)
	// The warning is logged before the server listens; its copy may still be on its way.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), line) }, 10*time.Second, 10*time.Millisecond)
	require.NotContains(t, logs.String(), strings.Repeat("a", 22))
}

// lockedBuffer is a bytes.Buffer that a running process may write while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
