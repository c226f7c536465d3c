package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGCPercent checks the heap target the binary runs with: gcPercent by default, and what
// GOGC says when it is set.
func TestGCPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		gogc string // "" leaves GOGC unset
		want float64
	}{
		{"default", "", gcPercent},
		{"GOGC set", "150", 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			env := []string{"LOG_LEVEL=warn"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOGC=") {
					env = append(env, kv)
				}
			}
			if tt.gogc != "" {
				env = append(env, "GOGC="+tt.gogc)
			}
			cmd := exec.Command(binary, "--config", serveConfig(t, port))
			cmd.Env = env
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
				}
			})
			waitLive(t, port)
			require.Equal(t, tt.want, metric(t, port, "go_gc_gogc_percent"), fmt.Sprintf("GOGC=%q", tt.gogc))
		})
	}
}
