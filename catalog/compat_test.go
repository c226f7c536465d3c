package catalog_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/testenv"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/httpserver/httpservertest"
)

// npmProject copies catalog/compat into a cache directory outside the repository and installs
// its locked dependencies there (once per lock file), returning the directory.
func npmProject(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed: install Node.js with npm", tool)
		}
	}
	cache := os.Getenv("STAGEBUS_CACHE_DIR")
	if cache == "" {
		home, err := os.UserCacheDir()
		require.NoError(t, err)
		cache = filepath.Join(home, "stagebus")
	}
	lock, err := os.ReadFile("compat/package-lock.json")
	require.NoError(t, err)
	dir := filepath.Join(cache, "catalog-compat")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"package.json", "package-lock.json", "compat.mjs"} {
		b, err := os.ReadFile(filepath.Join("compat", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	stamp := filepath.Join(dir, "node_modules", ".installed-lock")
	if installed, err := os.ReadFile(stamp); err != nil || !bytes.Equal(installed, lock) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm ci: %s", out)
		require.NoError(t, os.WriteFile(stamp, lock, 0o644))
	}
	return dir
}

// TestCatalogClientCompatibility runs Backstage's own @backstage/catalog-client (from npm)
// against a running Stagebus: getEntities, getEntityByRef, queryEntities, getEntitiesByRefs,
// addLocation and removeEntityByUid.
func TestCatalogClientCompatibility(t *testing.T) {
	t.Parallel()
	dir := npmProject(t)
	a := startCatalog(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "compat.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"BASE_URL=http://"+a.srv.Addr(),
		"TOKEN="+httpservertest.Token,
		"TARGET=https://git.example/acme/artist-web/blob/main/catalog-info.yaml")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"ok":true`)
	for _, m := range []string{"getEntities", "getEntityByRef", "queryEntities", "getEntitiesByRefs", "addLocation", "removeEntityByUid"} {
		require.True(t, strings.Contains(string(out), `"`+m+`"`), m)
	}
}
