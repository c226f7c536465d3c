package configtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stagebus/stagebus/config"
)

// Tree loads yaml as an app-config.yaml file (with an empty environment) and fails the test
// on a problem.
func Tree(t testing.TB, yaml string) *config.Tree {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app-config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	tree, err := config.Load([]string{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}
