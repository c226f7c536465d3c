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

// TestConsoleIsALeaf: the operator console reads the other modules through their Go APIs;
// nothing but the composition root depends on it, so that it can be turned off or replaced.
func TestConsoleIsALeaf(t *testing.T) {
	t.Parallel()
	const module = "github.com/stagebus/stagebus/"
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		// Test variants are named "p [p.test]", "p_test [p.test]" and "p.test".
		pkg := strings.TrimSuffix(strings.TrimSuffix(fields[0], ".test"), "_test")
		if pkg == module+"cmd/platform" || pkg == module+"console" || strings.HasPrefix(pkg, module+"console/") {
			continue
		}
		for _, dep := range fields[1:] {
			if strings.HasPrefix(dep, "[") {
				continue
			}
			require.False(t, dep == module+"console" || strings.HasPrefix(dep, module+"console/"), "%s imports %s: only cmd/platform may depend on the console", pkg, dep)
		}
	}
}
