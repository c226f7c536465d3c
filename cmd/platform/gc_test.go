package main

import (
	"fmt"
	"os"
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
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOGC=") {
					env = append(env, kv)
				}
			}
			if tt.gogc != "" {
				env = append(env, "GOGC="+tt.gogc)
			}
			p := startEnv(t, env, "--config", serveConfig(t, port))
			t.Cleanup(func() {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				p.wait(t, 30*time.Second)
			})
			waitLive(t, port)
			require.Equal(t, tt.want, metric(t, port, "go_gc_gogc_percent"), fmt.Sprintf("GOGC=%q", tt.gogc))
		})
	}
}
