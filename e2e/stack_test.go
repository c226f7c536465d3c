//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create the test database
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository, whose binary and configuration files the test runs.
const repoRoot = ".."

const (
	org  = "acme"
	repo = "payments"
	// catalogFile is what the fake GitHub serves once the push has "added" it.
	catalogFile = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments\n  description: takes the money\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
)

// TestFullStack runs what `docker compose up` runs, on the test machine: the production
// configuration on Kafka and PostgreSQL. A signed GitHub push adds an entity, an
// unauthenticated request is refused and lands in the audit log, and both survive a SIGTERM
// and a restart (with GitHub down, so the entity can only come from the database). The
// README's full-stack commands are run against it too.
func TestFullStack(t *testing.T) {
	binary := build(t)
	gh := newFakeGitHub(t)
	topicPrefix := "e2e-" + hexString(t, 4) + "."
	s := &stack{t: t, binary: binary, port: freePort(t)}
	s.env = append(withoutAppConfig(os.Environ()),
		"KAFKA_BROKERS="+requireEnv(t, "PLATFORM_TEST_KAFKA_BROKERS"),
		"STAGEBUS_ADMIN_TOKEN="+secret(t, "admin"),
		"GITHUB_WEBHOOK_SECRET="+secret(t, "webhook"),
		"GITHUB_ORG="+org,
		"GITHUB_TOKEN="+secret(t, "ghp"),
		"GITHUB_API_URL="+gh.srv.URL,
		"STAGEBUS_BASE_URL="+s.url(""),
		// The test machine's rules: listen on 127.0.0.1, on a free port; topics and consumer
		// groups of this run only, on a broker other runs may share.
		"APP_CONFIG_backend_listen_host=127.0.0.1",
		fmt.Sprintf("APP_CONFIG_backend_listen_port=%d", s.port),
		"APP_CONFIG_events_kafka_topicPrefix="+topicPrefix,
		"APP_CONFIG_events_kafka_groupPrefix="+topicPrefix,
	)
	s.env = append(s.env, freshDatabase(t)...)
	s.adminToken, s.webhookSecret = s.getenv("STAGEBUS_ADMIN_TOKEN"), s.getenv("GITHUB_WEBHOOK_SECRET")

	// First run: the push adds the entity; an anonymous request is refused and audited.
	first := s.start()
	s.waitReady()
	gh.setFile(catalogFile)
	delivery := s.push([]string{"catalog-info.yaml"})
	entity := s.waitEntity()
	s.requireOnKafka(topicPrefix+"github.push", delivery)
	require.Equal(t, "takes the money", entity["metadata"].(map[string]any)["description"])
	uid := entity["metadata"].(map[string]any)["uid"]

	resp := s.request(http.MethodGet, "/api/catalog/entities", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.status, resp.body)
	require.Contains(t, resp.body, `"error"`, "a refusal is a JSON error")
	refusal := s.waitAuditRefusal("/api/catalog/entities")

	t.Run("the README's full-stack commands work", func(t *testing.T) {
		s.runReadmeCommands(t)
	})

	// Sign-in with GitHub is off while its client is not set.
	require.Equal(t, http.StatusNotFound, s.signInStart("github"))

	s.stop(first)

	// Second run, GitHub unreachable: what the first run wrote comes from PostgreSQL. The
	// GitHub client's variables, set now, turn sign-in with GitHub on.
	gh.setDown(true)
	s.env = append(s.env, "AUTH_GITHUB_CLIENT_ID=e2e-client", "AUTH_GITHUB_CLIENT_SECRET="+secret(t, "oauth"))
	second := s.start()
	s.waitReady()
	require.Equal(t, http.StatusFound, s.signInStart("github"), "docker-compose.yml's variables enable the provider")
	s.checkConsole(delivery)
	resp = s.request(http.MethodGet, "/api/catalog/entities/by-name/component/default/"+repo, s.adminToken, nil, nil)
	require.Equal(t, http.StatusOK, resp.status, resp.body)
	var again map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.body), &again))
	require.Equal(t, uid, again["metadata"].(map[string]any)["uid"], "the same entity, not a new one")
	records := s.auditEvents()
	require.Contains(t, records, refusal.id, "the audit record of the refusal is gone after the restart")
	require.Equal(t, refusal.hash, records[refusal.id].hash)
	s.stop(second)

	// The hash chain written by two processes is intact.
	out, err := s.command("audit", "verify").CombinedOutput()
	require.NoError(t, err, "platform audit verify: %s", out)
	require.Contains(t, string(out), "audit log OK")

	for _, p := range []*process{first, second} {
		for _, v := range []string{s.adminToken, s.webhookSecret, s.getenv("POSTGRES_PASSWORD"), s.getenv("GITHUB_TOKEN"), s.getenv("AUTH_GITHUB_CLIENT_SECRET")} {
			require.NotContains(t, p.log.String(), v, "a secret is in the log")
		}
	}
}

// stack is the binary, its environment and the HTTP calls the test makes to it.
type stack struct {
	t                         *testing.T
	binary                    string
	port                      int
	env                       []string
	adminToken, webhookSecret string
}

func (s *stack) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path) }

func (s *stack) getenv(name string) string {
	for i := len(s.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(s.env[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// command is the binary with the production configuration layers, as the image runs it.
func (s *stack) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.binary, append(args,
		"--config", filepath.Join(repoRoot, "app-config.yaml"),
		"--config", filepath.Join(repoRoot, "app-config.production.yaml"))...)
	cmd.Env = s.env
	return cmd
}

// process is one run of the server.
type process struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func (s *stack) start() *process {
	s.t.Helper()
	p := &process{cmd: s.command("--log-format", "json"), log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(s.t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	s.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if s.t.Failed() {
			s.t.Logf("log of pid %d:\n%s", p.cmd.Process.Pid, p.log.String())
		}
	})
	return p
}

// stop sends SIGTERM and requires exit code 0 within the stop timeout.
func (s *stack) stop(p *process) {
	s.t.Helper()
	require.NoError(s.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		s.t.Fatal("the server did not stop within 30s of SIGTERM")
	}
	require.Equal(s.t, 0, p.cmd.ProcessState.ExitCode(), "exit code after SIGTERM")
}

// waitReady runs `platform health`, the image's HEALTHCHECK, until it succeeds.
func (s *stack) waitReady() {
	s.t.Helper()
	var out []byte
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if out, err = s.command("health").CombinedOutput(); err == nil {
			require.Contains(s.t, string(out), "ready (")
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.t.Fatalf("platform health did not succeed within 90s; last answer: %s", out)
}

type response struct {
	status int
	body   string
}

func (s *stack) request(method, path, token string, body []byte, header http.Header) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url(path), bytes.NewReader(body))
	require.NoError(s.t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return response{status: resp.StatusCode, body: string(b)}
}

// checkConsole checks the operator console of the production configuration: a page without a
// session sends the browser to sign in, where GitHub is offered and no guest; with the admin
// token, the Events page lists the webhook of the first run from the history that the outbox
// keeps on Kafka.
func (s *stack) checkConsole(delivery string) {
	s.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.url("/"))
	require.NoError(s.t, err)
	resp.Body.Close()
	require.Equal(s.t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(s.t, "/signin?next=%2F", resp.Header.Get("Location"))
	page := s.request(http.MethodGet, "/signin", "", nil, nil)
	require.Equal(s.t, http.StatusOK, page.status)
	require.Contains(s.t, page.body, `id="signin-github"`)
	require.NotContains(s.t, page.body, `id="signin-guest"`, "no guest in production")
	events := s.request(http.MethodGet, "/events?topic=github.push", s.adminToken, nil, nil)
	require.Equal(s.t, http.StatusOK, events.status, events.body)
	require.Contains(s.t, events.body, delivery, "the webhook is in the event history on Kafka with the outbox")
	require.NotContains(s.t, events.body, "Webhooks are not kept in the event history")
}

// signInStart starts a sign-in with provider and returns the status; a redirect must go to the
// provider's authorization page with the configured client.
func (s *stack) signInStart(provider string) int {
	s.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.url("/api/auth/" + provider + "/start"))
	require.NoError(s.t, err)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		require.True(s.t, strings.HasPrefix(resp.Header.Get("Location"), "https://github.com/login/oauth/authorize?"), resp.Header.Get("Location"))
		require.Contains(s.t, resp.Header.Get("Location"), "client_id="+s.getenv("AUTH_GITHUB_CLIENT_ID"))
	}
	return resp.StatusCode
}

// push sends a signed GitHub push of the default branch of acme/payments and returns its
// delivery id.
func (s *stack) push(added []string) string {
	s.t.Helper()
	sha := strings.Repeat("b", 40)
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("a", 40), "after": sha,
		"repository": map[string]any{
			"id": 42, "name": repo, "full_name": org + "/" + repo, "private": false,
			"owner":    map[string]any{"login": org, "type": "Organization"},
			"html_url": "https://github.com/" + org + "/" + repo, "default_branch": "main", "archived": false,
		},
		"pusher": map[string]any{"name": "ada"}, "sender": map[string]any{"login": "ada"},
		"commits": []any{map[string]any{"id": sha, "message": "add catalog-info.yaml", "added": added, "removed": []string{}, "modified": []string{}}},
	})
	require.NoError(s.t, err)
	mac := hmac.New(sha256.New, []byte(s.webhookSecret))
	mac.Write(body)
	delivery := "e2e-" + hexString(s.t, 8)
	resp := s.request(http.MethodPost, "/api/events/http/github", "", body, http.Header{
		"Content-Type":        {"application/json"},
		"X-Github-Event":      {"push"},
		"X-Github-Delivery":   {delivery},
		"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
	})
	require.Equal(s.t, http.StatusAccepted, resp.status, resp.body)
	return delivery
}

// requireOnKafka reads a topic with kcat, a Kafka client that is not Stagebus's, and requires
// a record whose CloudEvents id is the delivery: the webhook went through the broker.
func (s *stack) requireOnKafka(topic, delivery string) {
	s.t.Helper()
	kcat, err := exec.LookPath("kcat")
	require.NoError(s.t, err, "kcat is missing (make e2e installs it)")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", s.getenv("KAFKA_BROKERS"), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%h\n").CombinedOutput()
	require.NoError(s.t, err, "kcat: %s", out)
	require.Contains(s.t, string(out), "ce_id="+delivery, "the push is not on Kafka topic %s", topic)
}

// waitEntity waits for component:default/payments to be visible to the admin.
func (s *stack) waitEntity() map[string]any {
	s.t.Helper()
	var last response
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		last = s.request(http.MethodGet, "/api/catalog/entities/by-name/component/default/"+repo, s.adminToken, nil, nil)
		if last.status == http.StatusOK {
			var e map[string]any
			require.NoError(s.t, json.Unmarshal([]byte(last.body), &e))
			return e
		}
		require.Equal(s.t, http.StatusNotFound, last.status, last.body)
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("the pushed entity did not appear within 60s; last answer %d %s", last.status, last.body)
	return nil
}

// auditEntry is the part of an audit log entry the test compares across restarts.
type auditEntry struct {
	id   int64
	hash string
}

// auditEvents returns the newest page of the audit log by id, read with the admin token.
func (s *stack) auditEvents() map[int64]auditEntry {
	s.t.Helper()
	out, _ := s.auditPage()
	return out
}

func (s *stack) auditPage() (map[int64]auditEntry, []map[string]any) {
	s.t.Helper()
	resp := s.request(http.MethodGet, "/api/audit/events?limit=500", s.adminToken, nil, nil)
	require.Equal(s.t, http.StatusOK, resp.status, resp.body)
	var page struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(s.t, json.Unmarshal([]byte(resp.body), &page))
	out := map[int64]auditEntry{}
	for _, it := range page.Items {
		id := int64(it["id"].(float64))
		out[id] = auditEntry{id: id, hash: it["hash"].(string)}
	}
	return out, page.Items
}

// waitAuditRefusal waits for the audit record of an unauthenticated request to path.
func (s *stack) waitAuditRefusal(path string) auditEntry {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, items := s.auditPage()
		for _, it := range items {
			req, _ := it["request"].(map[string]any)
			if it["eventId"] == "authenticate" && it["status"] == "failed" && req != nil && strings.HasPrefix(fmt.Sprint(req["url"]), path) {
				return auditEntry{id: int64(it["id"].(float64)), hash: it["hash"].(string)}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("no failed authenticate record for %s in /api/audit/events within 30s", path)
	return auditEntry{}
}

// runReadmeCommands runs the README's shell blocks marked full-stack against this server:
// the signed webhook must be accepted, and the catalog and audit listings must show what this
// run wrote.
func (s *stack) runReadmeCommands(t *testing.T) {
	blocks := readmeScripts(t, "full-stack", s.port)
	require.Len(t, blocks, 2, "expected the webhook block and the listing block")
	for _, tool := range []string{"bash", "curl", "openssl", "sed"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the README's commands need %s (make e2e installs it)", tool)
	}
	run := func(script string) string {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Env = s.env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s\n%s", script, out)
		return string(out)
	}
	require.Regexp(t, `(?m) 202$`, run(blocks[0]), "the README's signed webhook is not accepted")
	listing := run(blocks[1])
	require.Contains(t, listing, `"name":"`+repo+`"`, "the README's catalog listing does not show the pushed entity")
	require.Contains(t, listing, `"eventId":"authenticate"`, "the README's audit listing does not show the refusal")
}

// fakeGitHub serves the REST API calls of the catalog provider: the organization's
// repositories and the catalog file's contents. Down, it answers 503 to everything.
type fakeGitHub struct {
	srv  *httptest.Server
	mu   sync.Mutex
	file string
	down atomic.Bool
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) setFile(content string) { f.mu.Lock(); f.file = content; f.mu.Unlock() }
func (f *fakeGitHub) setDown(down bool)      { f.down.Store(down) }

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		http.Error(w, `{"message":"Service Unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	f.mu.Lock()
	file := f.file
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/orgs/" + org + "/repos":
		_ = json.NewEncoder(w).Encode([]map[string]any{{
			"id": 42, "name": repo, "full_name": org + "/" + repo, "private": false,
			"owner":    map[string]any{"login": org, "type": "Organization"},
			"html_url": "https://github.com/" + org + "/" + repo, "default_branch": "main", "archived": false,
		}})
	case "/repos/" + org + "/" + repo + "/contents/catalog-info.yaml":
		if file == "" || r.URL.Query().Get("ref") != "main" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		_, _ = io.WriteString(w, file)
	default:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

// build compiles the platform binary as the Dockerfile does.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "platform")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/platform")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freshDatabase creates a database of its own on the test PostgreSQL server, dropped when the
// test ends, and returns the POSTGRES_* variables app-config.production.yaml reads.
func freshDatabase(t *testing.T) []string {
	t.Helper()
	base := requireEnv(t, "PLATFORM_TEST_POSTGRES_URL")
	u, err := url.Parse(base)
	require.NoError(t, err, "PLATFORM_TEST_POSTGRES_URL")
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	name := "e2e_" + hexString(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err, "create the test database")
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE " + name + " WITH (FORCE)") })
	password, ok := u.User.Password()
	if !ok {
		password = secret(t, "pg") // the test server trusts local connections; any password does
	}
	host, port, err := net.SplitHostPort(u.Host)
	require.NoError(t, err, "PLATFORM_TEST_POSTGRES_URL must name host:port")
	return []string{"POSTGRES_HOST=" + host, "POSTGRES_PORT=" + port, "POSTGRES_USER=" + u.User.Username(), "POSTGRES_PASSWORD=" + password, "POSTGRES_DB=" + name}
}

func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	require.NotEmpty(t, v, "%s is not set: run the end-to-end test with make e2e, which starts the services", name)
	return v
}

// withoutAppConfig drops APP_CONFIG_ overrides the caller's environment may hold.
func withoutAppConfig(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "APP_CONFIG_") {
			out = append(out, kv)
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func hexString(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// secret is a random value, long enough for a static token, that the log must never show.
func secret(t *testing.T, kind string) string { return kind + "-" + hexString(t, 16) }

// syncBuffer is a bytes.Buffer the process writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
