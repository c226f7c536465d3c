package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLayering keeps the lower layers free of HTTP: the database and the bus declare health
// checks and metrics through the health package, which itself depends on nothing else of
// Stagebus's. A provider's events module (webhooks) does not depend on the catalog.
func TestLayering(t *testing.T) {
	t.Parallel()
	const module = "github.com/stagebus/stagebus/"
	tests := []struct {
		pkg       string
		forbidden func(dep string) bool
		why       string
	}{
		{"database", func(d string) bool { return d == module+"httpserver" }, "the database must not depend on HTTP"},
		{"eventsvc", func(d string) bool { return d == module+"httpserver" }, "the bus must not depend on HTTP"},
		{"health", func(d string) bool { return strings.HasPrefix(d, module) && d != module+"health" }, "health imports nothing else from Stagebus"},
		{"providers/github", func(d string) bool { return d == module+"catalog" }, "GitHub's events module is apart from its catalog module (providers/github/discovery)"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", module+tt.pkg).CombinedOutput()
			require.NoError(t, err, "%s", out)
			for _, dep := range strings.Fields(string(out)) {
				require.False(t, tt.forbidden(dep), "%s imports %s: %s", tt.pkg, dep, tt.why)
			}
		})
	}
}
