package database_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
)

type bytesBuffer = strings.Builder

func loadYAML(t *testing.T, content string) *config.Tree {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app-config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	tree, err := config.Load([]string{p}, nil)
	require.NoError(t, err)
	return tree
}

// sameDatabase returns a Config that reaches the database db is connected to.
func sameDatabase(t *testing.T, db *database.DB) database.Config {
	t.Helper()
	return db.Config()
}
