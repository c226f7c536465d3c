package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/internal/testenv"
	"github.com/stagebus/stagebus/providers/github/discovery"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// githubHost is the integrations.github host the fake GitHub stands for.
const githubHost = "github.example"

// stagebus is Stagebus as cmd/platform composes it (auth, the audit log, the catalog and the
// GitHub integration, on the default SQL bus), listening on 127.0.0.1 at the port of its
// backend.baseUrl, as Backstage's clients need it (they check the token issuer against it).
type stagebus struct {
	t      *testing.T
	url    string
	auth   *auth.Service
	github *fakeGitHub
}

// start runs Stagebus in the development environment (so that the guest provider signs in),
// with more keys (indented by two spaces) in its auth and backend sections.
func start(t *testing.T, authKeys, backendKeys string) stagebus {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	gh := newFakeGitHub(t)
	s := stagebus{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), github: gh}
	tree := configtest.Tree(t, fmt.Sprintf(`backend:
  baseUrl: %s
  listen:
    host: 127.0.0.1
    port: %d
  database:
    connection: %s
%sauth:
  environment: development
%sintegrations:
  github:
    - host: %s
      apiBaseUrl: %s
`, s.url, port, filepath.Join(t.TempDir(), "stagebus.db"), backendKeys, authKeys, githubHost, gh.srv.URL))
	app := fxtest.New(t,
		fx.Supply(tree), config.Module, fx.Supply(zerolog.Nop()),
		httpserver.Module, database.Module,
		eventsvc.Module, memory.Module, sqlbus.Module, deadletter.Module,
		auth.Module, audit.Module, catalog.Module, discovery.Module,
		fx.Invoke(func(*eventsvc.Service, *httpserver.Server) {}),
		fx.Populate(&s.auth),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return s
}

// guestToken signs in as the guest and returns the user token.
func (s stagebus) guestToken() string {
	s.t.Helper()
	var body auth.GuestResponse
	status := s.call(http.MethodGet, auth.GuestRefreshPath, "", nil, &body)
	require.Equal(s.t, http.StatusOK, status)
	return body.BackstageIdentity.Token
}

// call sends a JSON request and decodes the JSON answer into out (when not nil).
func (s stagebus) call(method, path, token string, in, out any) int {
	s.t.Helper()
	var body bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(s.t, err)
		body.Reset(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, method, s.url+path, &body)
	require.NoError(s.t, err)
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(s.t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// fakeGitHub answers the GitHub REST calls of integrations.github for repositories held in
// memory: a repository, its file tree and the contents of its files, on branch main. The
// scripts change a file with PUT /_test/files/<owner>/<repo>/<path>.
type fakeGitHub struct {
	srv *httptest.Server
	mu  sync.Mutex
	// files maps owner/repo to path to content.
	files map[string]map[string]string
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{files: map[string]map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}", func(w http.ResponseWriter, r *http.Request) {
		full := r.PathValue("owner") + "/" + r.PathValue("repo")
		if _, ok := g.repo(full); !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{"name": r.PathValue("repo"), "full_name": full, "default_branch": "main",
			"html_url": "https://" + githubHost + "/" + full, "owner": map[string]string{"login": r.PathValue("owner")}})
	})
	mux.HandleFunc("GET /repos/{owner}/{repo}/git/trees/{ref}", func(w http.ResponseWriter, r *http.Request) {
		files, ok := g.repo(r.PathValue("owner") + "/" + r.PathValue("repo"))
		if !ok || r.PathValue("ref") != "main" {
			http.NotFound(w, r)
			return
		}
		tree := []map[string]string{}
		for p := range files {
			tree = append(tree, map[string]string{"path": p, "type": "blob"})
		}
		writeJSON(w, map[string]any{"tree": tree, "truncated": false})
	})
	mux.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", func(w http.ResponseWriter, r *http.Request) {
		files, _ := g.repo(r.PathValue("owner") + "/" + r.PathValue("repo"))
		content, ok := files[r.PathValue("path")]
		if !ok || r.URL.Query().Get("ref") != "main" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(content))
	})
	mux.HandleFunc("PUT /_test/files/{owner}/{repo}/{path...}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		g.put(r.PathValue("owner")+"/"+r.PathValue("repo"), r.PathValue("path"), string(body))
		w.WriteHeader(http.StatusNoContent)
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// put adds (or replaces) a file of a repository (owner/repo) on branch main.
func (g *fakeGitHub) put(repo, path, content string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.files[repo] == nil {
		g.files[repo] = map[string]string{}
	}
	g.files[repo][path] = content
}

func (g *fakeGitHub) repo(full string) (map[string]string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	files, ok := g.files[full]
	return files, ok
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// npmProject copies the npm project of this folder (package.json, the lock file and the
// scripts) into a cache directory outside the repository and installs its locked dependencies
// there, once per lock file; it returns the directory.
func npmProject(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed: install Node.js with npm", tool)
		}
	}
	npmOnce.Do(func() { npmDir, npmErr = installNPM() })
	require.NoError(t, npmErr)
	return npmDir
}

var (
	npmOnce sync.Once
	npmDir  string
	npmErr  error
)

func installNPM() (string, error) {
	cache := os.Getenv("STAGEBUS_CACHE_DIR")
	if cache == "" {
		home, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, "stagebus")
	}
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "compat")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	scripts, err := filepath.Glob("*.mjs")
	if err != nil {
		return "", err
	}
	for _, f := range append([]string{"package.json", "package-lock.json"}, scripts...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", err
		}
	}
	stamp := filepath.Join(dir, "node_modules", ".installed-lock")
	if installed, err := os.ReadFile(stamp); err == nil && bytes.Equal(installed, lock) {
		return dir, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	return dir, os.WriteFile(stamp, lock, 0o644)
}

// node runs a script of the npm project with env added to the environment, fails the test
// with its output when it fails, and returns the last line it printed: the JSON summary
// {"ok": true, "checked": [...]}, decoded.
func node(t *testing.T, dir, script string, env ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "node %s:\n%s", script, out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var summary struct {
		OK      bool     `json:"ok"`
		Checked []string `json:"checked"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &summary), "node %s:\n%s", script, out)
	require.True(t, summary.OK, "node %s:\n%s", script, out)
	t.Logf("node %s checked %s", script, strings.Join(summary.Checked, ", "))
	return summary.Checked
}
