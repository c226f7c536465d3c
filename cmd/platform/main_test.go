package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/authtest"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/console/consoletest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/logging"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// binary is the platform command built once for the tests that need a real process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "platform-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "platform")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build platform: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	consoletest.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomHex returns n random bytes in hex, for names no other test run uses.
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app-config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func serveConfig(t *testing.T, port int) string {
	return writeConfig(t, fmt.Sprintf("backend:\n  listen:\n    port: %d\n  database:\n    connection: %s\n", port, filepath.Join(t.TempDir(), "db.sqlite")))
}

type process struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startEnv(t, os.Environ(), args...)
}

// startEnv starts the binary with the environment env (and LOG_LEVEL=warn).
func startEnv(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(env, "LOG_LEVEL=warn")
	p := &process{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// wait returns the exit code, failing the test if the process has not ended within limit.
func (p *process) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("the process did not exit within %s; stderr: %s", limit, p.stderr)
		return -1
	}
}

func waitLive(t *testing.T, port int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/.backstage/health/v1/liveness", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("liveness did not answer 200 at %s", url)
}

// TestServeStopsGracefully starts the real binary, waits for liveness, and checks that each
// stop signal ends it with exit code 0 within 5 seconds.
func TestServeStopsGracefully(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			p := start(t, "--config", serveConfig(t, port))
			waitLive(t, port)
			require.NoError(t, p.cmd.Process.Signal(sig))
			require.Equal(t, 0, p.wait(t, 5*time.Second), p.stderr.String())
		})
	}
}

// TestHealthCommand checks `platform health`, the image's HEALTHCHECK: 0 against a ready
// server (also when the config binds every interface), 1 with a reason otherwise.
func TestHealthCommand(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	p := start(t, "--config", serveConfig(t, port))
	waitLive(t, port)
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGTERM); p.wait(t, 10*time.Second) })
	probe := func(host string, port int) string {
		return writeConfig(t, fmt.Sprintf("backend:\n  listen:\n    host: %s\n    port: %d\n", host, port))
	}
	tests := []struct {
		name       string
		config     string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "ready", config: probe("127.0.0.1", port), wantStdout: fmt.Sprintf("ready (http://127.0.0.1:%d/.backstage/health/v1/readiness)", port)},
		{name: "every interface is probed on loopback", config: probe("0.0.0.0", port), wantStdout: fmt.Sprintf("ready (http://127.0.0.1:%d/", port)},
		{name: "nothing listening", config: probe("127.0.0.1", freePort(t)), wantCode: 1, wantStderr: "platform: not ready: Get \"http://127.0.0.1:"},
		{name: "bad config", config: writeConfig(t, "backend:\n  listen:\n    port: many\n"), wantCode: 1, wantStderr: "backend.listen.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "health", "--config", tt.config)
			require.Equal(t, tt.wantCode, code, "stderr: %s", stderr)
			require.Contains(t, stdout, tt.wantStdout)
			require.Contains(t, stderr, tt.wantStderr)
		})
	}
}

// TestStartFailures checks that start-up failures exit non-zero with one clear line.
func TestStartFailures(t *testing.T) {
	t.Parallel()
	busyPort := freePort(t)
	first := start(t, "--config", serveConfig(t, busyPort))
	waitLive(t, busyPort)
	t.Cleanup(func() { _ = first.cmd.Process.Signal(syscall.SIGTERM) }) // after the parallel subtests

	tests := []struct {
		name   string
		config string
		want   string
	}{
		{
			name:   "port in use",
			config: serveConfig(t, busyPort),
			want:   fmt.Sprintf("platform: start failed: cannot listen on 127.0.0.1:%d (backend.listen): bind: address already in use", busyPort),
		},
		{
			name:   "bad database URL",
			config: writeConfig(t, "backend:\n  database:\n    client: pg\n    connection: postgres://u:hunter2@db:notaport/x\n"),
			want:   "platform: backend.database.connection: not a valid PostgreSQL connection string",
		},
		{
			name:   "unreachable database",
			config: writeConfig(t, fmt.Sprintf("backend:\n  listen:\n    port: %d\n  database:\n    client: pg\n    connection: postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2\n", freePort(t))),
			want:   "platform: start failed: cannot connect to the database postgres://u:[redacted]@127.0.0.1:1/x",
		},
		{
			name:   "invalid config",
			config: writeConfig(t, "backend:\n  listen:\n    port: many\n"),
			want:   `platform: invalid configuration: `,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := start(t, "--config", tt.config)
			code := p.wait(t, 15*time.Second)
			require.NotEqual(t, 0, code)
			out := strings.TrimRight(p.stderr.String(), "\n")
			require.NotContains(t, out, "\n", "one line expected, got:\n%s", out)
			require.Contains(t, out, tt.want)
			require.NotContains(t, out, "hunter2")
		})
	}
}

func runCLI(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut, environ)
	return code, out.String(), errOut.String()
}

func TestCLI(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, "backend:\n  listen:\n    port: 7123\napp:\n  title: Portal\n")
	bad := writeConfig(t, "backend:\n  listen:\n    prot: 1\n  log:\n    level: loud\nauth:\n  environment: prod\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "version", args: []string{"version"}, wantStdout: []string{"stagebus dev (go1."}},
		{name: "help", args: []string{"help"}, wantStdout: []string{"platform config check"}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 1, wantStderr: []string{`platform: unknown command "frobnicate"; run 'platform help' for usage`}},
		{name: "unknown flag", args: []string{"--conf", "x"}, wantCode: 1, wantStderr: []string{"platform: flag provided but not defined: -conf; run 'platform help' for usage"}},
		{name: "bad log format", args: []string{"--log-format", "xml", "version"}, wantCode: 1, wantStderr: []string{`platform: --log-format: unknown log format "xml": use json, console or auto`}},
		{name: "check passes and warns about unowned sections", args: []string{"config", "check", "--config", good},
			wantStdout: []string{"configuration OK"}, wantStderr: []string{`warning: ` + good + `:4: top-level key "app" is not used by any Stagebus module`}},
		{name: "check lists every problem", args: []string{"--config", bad, "config", "check"}, wantCode: 1, wantStderr: []string{
			"platform: invalid configuration (3 problems):",
			bad + `:3: backend.listen.prot: unknown key; did you mean "port"?`,
			bad + `:5: backend.log.level: unknown log level "loud"`,
			bad + `:7: auth.environment: must be development or production, got "prod"`,
		}},
		{name: "missing file", args: []string{"config", "check", "--config", "/nonexistent/app-config.yaml"}, wantCode: 1,
			wantStderr: []string{"platform: invalid configuration: /nonexistent/app-config.yaml: file not found; create it or pass the file to read with --config FILE"}},
		{name: "print shows defaults and overrides", args: []string{"config", "print", "--config", good}, wantStdout: []string{"port: 7123", "host: 127.0.0.1", "client: sqlite", "environment: production", "title: Portal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, tt.args...)
			require.Equal(t, tt.wantCode, code, "stderr: %s", stderr)
			for _, w := range tt.wantStdout {
				require.Contains(t, stdout, w)
			}
			for _, w := range tt.wantStderr {
				require.Contains(t, stderr, w)
			}
		})
	}
}

// secretSamples sets every secret field of every section to a value containing the marker.
// TestConfigPrintRedactsEverySecret fails when a section gains a secret field that is not
// listed here.
var secretSamples = map[string]string{
	"auth.providers.github.*.clientSecret":         "auth:\n  providers:\n    github:\n      production:\n        clientId: stagebus\n        clientSecret: MARKER\n        signIn:\n          resolvers: [{resolver: usernameMatchingUserEntityName}]\n",
	"auth.providers.oidc.*.clientSecret":           "auth:\n  providers:\n    oidc:\n      production:\n        metadataUrl: https://idp.example/.well-known/openid-configuration\n        clientId: stagebus\n        clientSecret: MARKER\n        signIn:\n          resolvers: [{resolver: emailMatchingUserEntityProfileEmail}]\n",
	"backend.auth.externalAccess.options.token":    "backend:\n  auth:\n    externalAccess:\n      - type: static\n        options:\n          token: MARKER\n          subject: ci\n",
	"backend.database.connection":                  "backend:\n  database:\n    client: pg\n    connection: postgres://stagebus:MARKER@db:5432/stagebus\n",
	"events.kafka.sasl.password":                   "events:\n  kafka:\n    brokers: [k:9092]\n    sasl:\n      mechanism: plain\n      username: u\n      password: MARKER\n",
	"events.modules.github.webhookSecret":          "events:\n  modules:\n    github:\n      webhookSecret: MARKER\n",
	"events.modules.gitlab.webhookSecret":          "events:\n  modules:\n    gitlab:\n      webhookSecret: [MARKER]\n",
	"events.modules.gitlab.signingToken":           "events:\n  modules:\n    gitlab:\n      signingToken: whsec_MARKER\n",
	"events.modules.bitbucketCloud.webhookSecret":  "events:\n  modules:\n    bitbucketCloud:\n      webhookSecret: MARKER\n",
	"events.modules.bitbucketServer.webhookSecret": "events:\n  modules:\n    bitbucketServer:\n      webhookSecret: MARKER\n",
	"events.modules.gitea.webhookSecret":           "events:\n  modules:\n    gitea:\n      webhookSecret: MARKER\n",
	"integrations.github.token":                    "integrations:\n  github:\n    - host: github.com\n      token: ghp_MARKER\n",
	"events.http.topicOptions.*.secrets":           "events:\n  http:\n    topics: [orders]\n    topicOptions:\n      orders:\n        verifier: hmac-sha256\n        secrets: [MARKER, second-MARKER]\n",
}

// TestConfigPrintRedactsEverySecret fills every secret field of every registered section
// with a marker and checks that `platform config print` shows none of them.
func TestConfigPrintRedactsEverySecret(t *testing.T) {
	t.Parallel()
	var sections []config.Section
	fxtest.New(t, app(emptyTree(t), logging.Options{}), fx.Invoke(fx.Annotate(
		func(s []config.Section) { sections = s }, fx.ParamTags(`group:"config.sections"`),
	))).RequireStart().RequireStop()

	var found []string
	for _, s := range sections {
		found = append(found, secretPaths(s.Path(), s.Type())...)
	}
	sort.Strings(found)
	listed := make([]string, 0, len(secretSamples))
	for p := range secretSamples {
		listed = append(listed, p)
	}
	sort.Strings(listed)
	require.Equal(t, found, listed, "every secret field needs a sample in secretSamples")

	for path, sample := range secretSamples {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			// Letters and digits only, 24 of them: valid where a secret must be base64 too.
			sum := sha256.Sum256([]byte(path))
			marker := "s3cret" + hex.EncodeToString(sum[:9])
			file := writeConfig(t, strings.ReplaceAll(sample, "MARKER", marker))
			code, stdout, stderr := runCLI(t, nil, "config", "print", "--config", file)
			require.Equal(t, 0, code, stderr)
			require.NotContains(t, stdout, marker)
			require.Contains(t, stdout, config.Redacted)
		})
	}
}

var (
	secretType   = reflect.TypeFor[config.Secret]()
	redacterType = reflect.TypeFor[config.Redacter]()
)

// secretPaths lists the key paths under path whose values are secrets: config.Secret values,
// fields tagged secret:"true", and values that redact themselves. Map keys are written *.
func secretPaths(path string, t reflect.Type) []string {
	if t == secretType || t.Implements(redacterType) {
		return []string{path}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		return secretPaths(path, t.Elem())
	case reflect.Map:
		return secretPaths(path+".*", t.Elem())
	case reflect.Struct:
		var out []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			if f.Tag.Get("secret") == "true" {
				out = append(out, path+"."+name)
				continue
			}
			out = append(out, secretPaths(path+"."+name, f.Type)...)
		}
		return out
	}
	return nil
}

func emptyTree(t *testing.T) *config.Tree {
	t.Helper()
	tree, err := config.Load([]string{writeConfig(t, "backend:\n  listen:\n    port: 0\n  database:\n    connection: ':memory:'\n")}, nil)
	require.NoError(t, err)
	return tree
}

// TestAppGraph checks that the whole application graph resolves.
func TestAppGraph(t *testing.T) {
	t.Parallel()
	require.NoError(t, fx.ValidateApp(app(emptyTree(t), logging.Options{}), roots))
}

// TestRouteWalker starts the whole application and checks every registered route: without
// credentials, a page answers 303 to the sign-in page, any other route 401, unless it is
// declared unauthenticated; with a real admin token issued by the auth module, neither.
func TestRouteWalker(t *testing.T) {
	t.Parallel()
	tree, err := config.Load([]string{writeConfig(t, "backend:\n  listen:\n    port: 0\n  database:\n    connection: ':memory:'\nauth:\n  admins: [user:default/admin]\n")}, nil)
	require.NoError(t, err)
	var srv *httpserver.Server
	var authService *auth.Service
	a := fxtest.New(t,
		app(tree, logging.Options{Out: io.Discard}),
		roots,
		fx.Populate(&srv, &authService),
	)
	a.RequireStart()
	defer a.RequireStop()
	token := authtest.UserToken(t, authService, "user:default/admin")

	routes := srv.Routes()
	require.NotEmpty(t, routes)
	for _, rt := range routes {
		t.Run(rt.Pattern(), func(t *testing.T) {
			method := rt.Method
			if method == "" {
				method = http.MethodGet
			}
			url := "http://" + srv.Addr() + fillPattern(rt.Path) + "?seconds=1" // keeps /debug/pprof/profile short
			without := request(t, method, url, "")
			switch {
			case rt.Auth == httpserver.Unauthenticated:
				require.NotEqual(t, http.StatusUnauthorized, without.StatusCode, "%s is declared unauthenticated", rt.Pattern())
			case rt.Page:
				require.Equal(t, http.StatusSeeOther, without.StatusCode, "page %s must send people without a session to sign in", rt.Pattern())
				require.True(t, strings.HasPrefix(without.Header.Get("Location"), "/signin?next="), without.Header.Get("Location"))
			default:
				require.Equal(t, http.StatusUnauthorized, without.StatusCode, "%s must refuse requests without credentials", rt.Pattern())
			}
			with := request(t, method, url, token)
			require.NotEqual(t, http.StatusUnauthorized, with.StatusCode)
			if method == http.MethodGet {
				require.False(t, with.StatusCode == http.StatusSeeOther && strings.HasPrefix(with.Header.Get("Location"), "/signin"),
					"%s sends an admin to sign in", rt.Pattern())
			}
		})
	}
}

// fillPattern replaces {name} and {name...} wildcards with sample values; {$} (the end of a
// path that ends in a slash) stays empty.
func fillPattern(p string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], '}')
		b.WriteString(p[:i])
		if p[i:i+j+1] != "{$}" {
			b.WriteString("sample")
		}
		p = p[i+j+1:]
	}
}

// request sends one request without following redirects and returns the response, its
// body closed.
func request(t *testing.T, method, url, token string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("{}"))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		authtest.Authorize(r, token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// TestAuditVerifyCommand: `platform audit verify` passes on an intact log and names the
// first broken row of an edited one.
func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "stagebus.db")
	cfg := writeConfig(t, "backend:\n  database:\n    connection: "+dbPath+"\n")
	code, stdout, stderr := runCLI(t, nil, "audit", "verify", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "audit log OK: 0 rows checked\n", stdout)

	ctx := context.Background()
	db, err := database.Open(database.Config{Client: database.ClientSQLite, Connection: database.Connection{DSN: dbPath}}, audit.Migrations, zerolog.Nop())
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Start(ctx))
	store := audit.NewStore(db, zerolog.Nop())
	for _, id := range []string{"m1", "m2", "m3"} {
		_, _, err := store.Append(ctx, id, audit.Record{EventID: "authenticate", SeverityLevel: "medium", Status: "failed", Timestamp: time.Now()})
		require.NoError(t, err)
	}
	code, stdout, _ = runCLI(t, nil, "audit", "verify", "--config", cfg)
	require.Equal(t, 0, code)
	require.Equal(t, "audit log OK: 3 rows checked\n", stdout)

	for _, stmt := range []string{"DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET status = 'succeeded' WHERE id = 2"} {
		_, err := db.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	code, _, stderr = runCLI(t, nil, "audit", "verify", "--config", cfg)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "platform: audit log broken at row 2: the row's content does not match its hash (edited)")
}
