package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/testenv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create POSTGRES_DB
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// The parity tests run what docker-compose.yml describes, without Docker: the kafka service's
// environment through the apache/kafka image's own set-up code (kafka.docker.KafkaDockerWrapper
// from the Kafka jars scripts/services caches, which maps KAFKA_FOO_BAR to foo.bar — "_" to ".",
// "__" to "_", "___" to "-" — and formats the storage with CLUSTER_ID), the postgres service's
// POSTGRES_* the way the postgres image's entrypoint initialises its cluster, and the stagebus
// service's environment with the production configuration, as the real binary. Only the
// addresses change: service names and container ports become 127.0.0.1 and free ports, and
// volume paths become temporary directories.

// composeStartLimit bounds each wait for a service of the stack to come up.
const composeStartLimit = 90 * time.Second

// TestComposeStackRuns starts Kafka, PostgreSQL and Stagebus from docker-compose.yml's own
// settings and requires Stagebus to become ready, accept a signed GitHub webhook with 202 and
// publish it on the compose Kafka.
func TestComposeStackRuns(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	tools := composeTools(t, p)
	addrs := composeAddrs{}
	pgPort := addrs.add(t, "postgres", 5432)

	var (
		broker *composeKafka
		pg     *composePostgres
		wg     sync.WaitGroup
		pgErr  error
	)
	wg.Add(1)
	go func() { // initdb and the JVM start-up overlap
		defer wg.Done()
		pg, pgErr = startComposePostgres(t, tools, p.Services["postgres"], pgPort)
	}()
	broker, err := startComposeKafka(t, tools, p.Services["kafka"], addrs)
	wg.Wait()
	require.NoError(t, err)
	require.NoError(t, pgErr)
	// Password authentication, as for the stagebus container: a wrong password is refused, so
	// a stagebus POSTGRES_PASSWORD that differs from the server's fails below.
	wrong, err := sql.Open("pgx", fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", url.UserPassword(pg.user, pg.password+"-wrong"), pg.port, pg.database))
	require.NoError(t, err)
	defer wrong.Close()
	require.ErrorContains(t, wrong.Ping(), "password authentication failed")

	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/repos") {
			_, _ = io.WriteString(w, "[]")
			return
		}
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}))
	t.Cleanup(gh.Close)

	env, err := stagebusEnv(p.Services["stagebus"], addrs)
	require.NoError(t, err)
	port := freePort(t)
	env["GITHUB_API_URL"] = gh.URL // the catalog provider's GitHub, not the Internet's
	env["STAGEBUS_BASE_URL"] = fmt.Sprintf("http://127.0.0.1:%d", port)
	env["APP_CONFIG_backend_listen_host"] = "127.0.0.1" // the container's 0.0.0.0, on loopback
	env["APP_CONFIG_backend_listen_port"] = strconv.Itoa(port)
	environ := cleanEnviron(env, "PATH", "HOME", "TMPDIR")

	configs := []string{"--config", filepath.Join(repoRoot, "app-config.yaml"), "--config", filepath.Join(repoRoot, "app-config.production.yaml")}
	srv := exec.Command(binary, configs...)
	srv.Env = environ
	var srvLog syncBuffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	require.NoError(t, srv.Start())
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("stagebus log:\n%s\nkafka log (end):\n%s", srvLog.String(), tail(broker.log(), 40))
		}
	})

	// Readiness as the image's HEALTHCHECK sees it.
	deadline := time.Now().Add(composeStartLimit)
	var out []byte
	for {
		health := exec.Command(binary, append([]string{"health"}, configs...)...)
		health.Env = environ
		if out, err = health.CombinedOutput(); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("stagebus exited (%v) before it was ready", srv.ProcessState)
		default:
		}
		require.True(t, time.Now().Before(deadline), "stagebus not ready within %s; platform health: %s", composeStartLimit, out)
		time.Sleep(250 * time.Millisecond)
	}

	delivery := "compose-" + randomHex(t, 8)
	body := []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("b", 40) + `","repository":{"id":42,"name":"payments","full_name":"acme/payments","default_branch":"main","owner":{"login":"acme"}},"commits":[]}`)
	mac := hmac.New(sha256.New, []byte(env["GITHUB_WEBHOOK_SECRET"]))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/api/events/http/github", port), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "signed webhook: %s", answer)

	requireKafkaRecord(t, broker.bootstrap, "stagebus.github.push", delivery)
}

// TestComposeKafkaSettingsFail checks that the Kafka half of the parity test fails on a broken
// setting, each run through the same image set-up and broker as TestComposeStackRuns.
func TestComposeKafkaSettingsFail(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	tools := composeTools(t, p)
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{
			name: "cluster id that is not a Kafka Uuid",
			set:  map[string]string{"CLUSTER_ID": "stagebus-demo-cluster-01"},
			want: `CLUSTER_ID "stagebus-demo-cluster-01" is not a Kafka cluster id: decoded as 18 bytes, not the 16 bytes of a base64url UUID`,
		},
		{
			name: "listener name typo",
			set:  map[string]string{"KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLER://:9093"},
			want: "No security protocol defined for listener CONTROLER",
		},
		{
			name: "unknown property",
			set:  map[string]string{"KAFKA_OFFSETS_TOPIC_REPLICATON_FACTOR": "1"},
			want: "offsets.topic.replicaton.factor (from KAFKA_OFFSETS_TOPIC_REPLICATON_FACTOR) is not a setting the broker knows",
		},
		{
			name: "advertised port no listener has",
			set:  map[string]string{"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9094"},
			want: "the broker advertises kafka:9094, which is not a listener of the kafka service",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := p.Services["kafka"]
			env := types.MappingWithEquals{}
			for k, v := range svc.Environment {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = &v
			}
			svc.Environment = env
			_, err := startComposeKafka(t, tools, svc, composeAddrs{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// composeToolset is what the parity tests run: java with the cached Kafka jars of the image's
// version, and Debian's PostgreSQL binaries.
type composeToolset struct {
	java, jars, pgBin string
}

// composeTools finds the tools; without java or PostgreSQL the tests skip, or fail under
// PLATFORM_REQUIRE_REAL_SERVICES=1; without the jars (which scripts/services fetches) they fail.
func composeTools(t *testing.T, p *types.Project) composeToolset {
	t.Helper()
	missing := func(format string, args ...any) { t.Helper(); testenv.Missing(t, format, args...) }
	var ts composeToolset
	ts.java = "java"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		ts.java = filepath.Join(home, "bin", "java")
	}
	if _, err := exec.LookPath(ts.java); err != nil {
		missing("java is missing: Kafka, which scripts/services runs, needs Java 17+: %v", err)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		missing("PostgreSQL is missing (Debian's postgresql package; scripts/services up installs it)")
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	if len(bins) > 0 {
		ts.pgBin = filepath.Dir(bins[len(bins)-1])
	}

	image := p.Services["kafka"].Image
	_, version, ok := strings.Cut(image, ":")
	require.True(t, ok, "kafka: image %q has no version tag", image)
	cache := os.Getenv("STAGEBUS_CACHE_DIR")
	if cache == "" {
		home, err := os.UserHomeDir()
		require.NoError(t, err)
		cache = filepath.Join(home, ".cache", "stagebus")
	}
	ts.jars = filepath.Join(cache, "kafka-"+version, "deps")
	if _, err := os.Stat(filepath.Join(ts.jars, ".complete")); err != nil {
		t.Fatalf("the Kafka %s jars of %s are not in %s: run STAGEBUS_KAFKA_VERSION=%s scripts/services up kafka", version, image, ts.jars, version)
	}
	return ts
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// composeAddrs maps what a container reaches — "service:containerPort" — to the loopback
// address that stands for it here.
type composeAddrs map[string]string

// add gives service:port a free loopback port and returns it.
func (a composeAddrs) add(t *testing.T, service string, port int) int {
	local := freePort(t)
	a[service+":"+strconv.Itoa(port)] = "127.0.0.1:" + strconv.Itoa(local)
	return local
}

// kafkaListener is one entry of a Kafka listeners setting: NAME://host:port.
var kafkaListener = regexp.MustCompile(`^\s*([A-Za-z0-9_]+)://([^:]*):([0-9]+)\s*$`)

// hostPort matches host:port inside a setting (a listener, a quorum voter, a broker list).
var hostPort = regexp.MustCompile(`([A-Za-z0-9._-]+):([0-9]+)`)

// rewrite replaces every host:port in value that the map knows.
func (a composeAddrs) rewrite(value string) string {
	return hostPort.ReplaceAllStringFunc(value, func(m string) string {
		if local, ok := a[m]; ok {
			return local
		}
		return m
	})
}

// serviceEnv is a service's environment as compose resolves it.
func serviceEnv(svc types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// cleanEnviron is env plus the named variables of the test's own environment, nothing else:
// the image's processes see the compose environment, not the test machine's.
func cleanEnviron(env map[string]string, inherit ...string) []string {
	var out []string
	for _, k := range inherit {
		if v, ok := os.LookupEnv(k); ok {
			if _, set := env[k]; !set {
				out = append(out, k+"="+v)
			}
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// composeKafka is a broker started from the kafka service's settings.
type composeKafka struct {
	bootstrap string // the loopback address of the first listener stagebus reaches
	logFile   string
}

func (k *composeKafka) log() string {
	if k == nil {
		return ""
	}
	b, _ := os.ReadFile(k.logFile)
	return string(b)
}

// kafkaImageDefaults is configureDefaults of the apache/kafka image (docker/resources/
// common-scripts): the CLUSTER_ID it uses when none is set.
var kafkaImageDefaults = map[string]string{"CLUSTER_ID": "5L6g3nShT-eMCtK--X86sw"}

// startComposeKafka runs the apache/kafka image's start-up on the service's environment:
// configureDefaults and configure (as shell rules here), then the image's launch — the real
// KafkaDockerWrapper setup, which writes server.properties from the KAFKA_* variables and
// formats the storage with CLUSTER_ID — and kafka.Kafka on that file. It returns once the
// broker answers, knows every setting it was given with the given value, and advertises
// addresses a client can reach. The broker and its files are removed when the test ends.
func startComposeKafka(t *testing.T, tools composeToolset, svc types.ServiceConfig, addrs composeAddrs) (*composeKafka, error) {
	t.Helper()
	env := serviceEnv(svc)
	for k, v := range kafkaImageDefaults {
		if env[k] == "" {
			env[k] = v
		}
	}
	// configure: KRaft needs CLUSTER_ID; listeners default to the advertised ones on 0.0.0.0.
	if env["KAFKA_PROCESS_ROLES"] != "" && env["CLUSTER_ID"] == "" {
		return nil, errors.New("CLUSTER_ID environment variable not set")
	}
	if env["KAFKA_LISTENERS"] == "" && env["KAFKA_PROCESS_ROLES"] != "controller" && env["KAFKA_ADVERTISED_LISTENERS"] != "" {
		env["KAFKA_LISTENERS"] = regexp.MustCompile(`://[^:]*:`).ReplaceAllString(env["KAFKA_ADVERTISED_LISTENERS"], "://0.0.0.0:")
	}
	if err := checkClusterID(env["CLUSTER_ID"]); err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "stagebus-compose-kafka-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// Each listener gets a free loopback port; the names a container uses for them (the
	// service name, localhost) map to it.
	listeners := env["KAFKA_LISTENERS"]
	var local []string
	firstPort := ""
	for _, l := range strings.Split(listeners, ",") {
		m := kafkaListener.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("KAFKA_LISTENERS: %q is not NAME://host:port", l)
		}
		port, _ := strconv.Atoi(m[3])
		key := svc.Name + ":" + m[3]
		if _, ok := addrs[key]; !ok {
			addrs.add(t, svc.Name, port)
			addrs["localhost:"+m[3]] = addrs[key]
		}
		if firstPort == "" {
			firstPort = m[3]
		}
		local = append(local, m[1]+"://"+addrs[key])
	}
	env["KAFKA_LISTENERS"] = strings.Join(local, ",")
	for k, v := range env {
		if strings.HasPrefix(k, "KAFKA_") && k != "KAFKA_LISTENERS" {
			env[k] = addrs.rewrite(v)
		}
	}
	// log.dirs must be on one of the service's volumes (else a new container loses the
	// cluster); here the volume is a temporary directory.
	if err := relocateVolumes(env, svc, dir, "KAFKA_LOG_DIRS", "KAFKA_LOG_DIR"); err != nil {
		return nil, err
	}

	for _, d := range []string{"defaults", "mounted", "config"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	log4j, err := filepath.Abs(filepath.Join(repoRoot, "scripts", "kafka", "log4j2.properties"))
	if err != nil {
		return nil, err
	}
	java := func(ctx context.Context, level string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, tools.java, append([]string{"-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Dlog4j2.configurationFile=" + log4j, "-Dstagebus.kafka.loglevel=" + level, "-cp", tools.jars + "/*"}, args...)...)
		cmd.Env = cleanEnviron(env, "PATH")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}

	// The image's launch: setup, then the broker on the file setup wrote.
	ctx, cancel := context.WithTimeout(context.Background(), composeStartLimit)
	defer cancel()
	out, err := java(ctx, "WARN", "kafka.docker.KafkaDockerWrapper", "setup",
		"--default-configs-dir", filepath.Join(dir, "defaults"),
		"--mounted-configs-dir", filepath.Join(dir, "mounted"),
		"--final-configs-dir", filepath.Join(dir, "config")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("the image's storage format step (KafkaDockerWrapper setup) failed: %v: %s", err, firstLines(string(out), 3))
	}
	props, err := readProperties(filepath.Join(dir, "config", "server.properties"))
	if err != nil {
		return nil, err
	}

	k := &composeKafka{bootstrap: addrs[svc.Name+":"+firstPort], logFile: filepath.Join(dir, "broker.log")}
	logf, err := os.Create(k.logFile)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	broker := java(context.Background(), "INFO", "kafka.Kafka", filepath.Join(dir, "config", "server.properties"))
	broker.Stdout, broker.Stderr = logf, logf
	if err := broker.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = broker.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-broker.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	// Up: the bootstrap address answers metadata with a registered broker.
	var md *kafka.MetadataResponse
	client := &kafka.Client{Addr: kafka.TCP(k.bootstrap), Timeout: 5 * time.Second}
	for {
		md, err = client.Metadata(ctx, &kafka.MetadataRequest{})
		if err == nil && len(md.Brokers) > 0 {
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("the broker exited (%v): %s", broker.ProcessState, tail(k.log(), 5))
		case <-ctx.Done():
			return nil, fmt.Errorf("the broker did not answer on %s within %s (%v): %s", k.bootstrap, composeStartLimit, err, tail(k.log(), 5))
		case <-time.After(200 * time.Millisecond):
		}
	}

	// Every advertised address must be one a client of the stack reaches.
	for _, b := range md.Brokers {
		addr := net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
		if !slices.Contains(mapValues(addrs), addr) {
			return nil, fmt.Errorf("the broker advertises %s, which is not a listener of the %s service", addr, svc.Name)
		}
	}

	// Every setting the image wrote must be one the broker knows, with the value given.
	dc, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeBroker, ResourceName: strconv.Itoa(md.Brokers[0].ID)},
	}})
	if err != nil {
		return nil, fmt.Errorf("describe the broker's configuration: %w", err)
	}
	if len(dc.Resources) != 1 || dc.Resources[0].Error != nil {
		return nil, fmt.Errorf("describe the broker's configuration: %+v", dc.Resources)
	}
	known := map[string]kafka.DescribeConfigResponseConfigEntry{}
	for _, e := range dc.Resources[0].ConfigEntries {
		known[e.ConfigName] = e
	}
	for name, value := range props {
		e, ok := known[name]
		// The broker lists a name it does not define with type UNKNOWN (0) and no value.
		if !ok || e.ConfigType == 0 {
			return nil, fmt.Errorf("%s (from %s) is not a setting the broker knows", name, envName(name))
		}
		if !e.IsSensitive && e.ConfigValue != value {
			return nil, fmt.Errorf("%s (from %s): the broker runs with %q, not %q", name, envName(name), e.ConfigValue, value)
		}
	}
	return k, nil
}

// envName is the KAFKA_* variable that the image turns into the property name.
func envName(prop string) string {
	r := strings.NewReplacer("-", "___", "_", "__", ".", "_")
	return "KAFKA_" + strings.ToUpper(r.Replace(prop))
}

// checkClusterID applies the rule of Kafka's Uuid.fromString to a cluster id: at most 24
// characters of base64url that decode to 16 bytes — what Kafka documents a cluster id to be,
// what `kafka-storage.sh random-uuid` prints and what the image's own default is. Kafka
// 4.1.2's format and broker do not parse the id themselves and would run with any string.
func checkClusterID(id string) error {
	if len(id) > 24 {
		return fmt.Errorf("CLUSTER_ID %q is not a Kafka cluster id: longer than 24 characters; use the output of kafka-storage.sh random-uuid", id)
	}
	b, err := base64.URLEncoding.DecodeString(id)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(id)
	}
	if err != nil {
		return fmt.Errorf("CLUSTER_ID %q is not a Kafka cluster id: not base64url (%v); use the output of kafka-storage.sh random-uuid", id, err)
	}
	if len(b) != 16 {
		return fmt.Errorf("CLUSTER_ID %q is not a Kafka cluster id: decoded as %d bytes, not the 16 bytes of a base64url UUID; use the output of kafka-storage.sh random-uuid", id, len(b))
	}
	return nil
}

// relocateVolumes points the path-list variables names at dir/<volume>/…, requiring each path
// to be on one of the service's volumes.
func relocateVolumes(env map[string]string, svc types.ServiceConfig, dir string, names ...string) error {
	for _, name := range names {
		v, ok := env[name]
		if !ok {
			continue
		}
		var paths []string
		for _, p := range strings.Split(v, ",") {
			relocated := ""
			for i, vol := range svc.Volumes {
				if rel, err := filepath.Rel(vol.Target, p); err == nil && !strings.HasPrefix(rel, "..") {
					relocated = filepath.Join(dir, "volume"+strconv.Itoa(i), rel)
				}
			}
			if relocated == "" {
				return fmt.Errorf("%s: %s is on none of the %s service's volumes: its data is lost when the container is recreated", name, p, svc.Name)
			}
			paths = append(paths, relocated)
		}
		env[name] = strings.Join(paths, ",")
	}
	return nil
}

// readProperties reads the key=value lines of the server.properties KafkaDockerWrapper writes.
func readProperties(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		props[k] = v
	}
	return props, nil
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// composePostgres is a PostgreSQL cluster initialised from the postgres service's settings.
type composePostgres struct {
	port                     int
	user, password, database string
}

// startComposePostgres initialises a cluster the way the postgres image's entrypoint does with
// POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB — the superuser with that password,
// password (scram-sha-256) authentication for TCP connections, the database created by that
// user — and starts it on 127.0.0.1:port. It is stopped and removed when the test ends.
func startComposePostgres(t *testing.T, tools composeToolset, svc types.ServiceConfig, port int) (*composePostgres, error) {
	env := serviceEnv(svc)
	pg := &composePostgres{port: port, user: env["POSTGRES_USER"], password: env["POSTGRES_PASSWORD"], database: env["POSTGRES_DB"]}
	if pg.user == "" {
		pg.user = "postgres"
	}
	if pg.database == "" {
		pg.database = pg.user
	}
	if pg.password == "" && env["POSTGRES_HOST_AUTH_METHOD"] != "trust" {
		return nil, errors.New("postgres: Database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD)")
	}

	dir, err := os.MkdirTemp("", "stagebus-compose-pg-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// initdb and postgres refuse to run as root: as root, they run as the postgres user.
	asPG := func(name string, args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(tools.pgBin, name)}, args...)...)
		}
		return exec.Command(filepath.Join(tools.pgBin, name), args...)
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(pg.password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("postgres: running as root needs the postgres user of Debian's postgresql package: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asPG("initdb", "-D", data, "--username", pg.user, "--pwfile", pwfile, "-E", "UTF8", "--no-sync",
		"--auth-local", "trust", "--auth-host", "scram-sha-256").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postgres: initdb: %v: %s", err, tail(string(out), 5))
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, dir)
	if out, err := asPG("pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return nil, fmt.Errorf("postgres: pg_ctl start: %v: %s %s", err, out, tail(string(log), 5))
	}
	t.Cleanup(func() { _ = asPG("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run() })

	// The entrypoint's docker_setup_db, over TCP with the password: the login must work.
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", url.UserPassword(pg.user, pg.password).String(), port))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if pg.database != "postgres" {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{pg.database}.Sanitize()); err != nil {
			return nil, fmt.Errorf("postgres: create database %s as %s: %w", pg.database, pg.user, err)
		}
	}
	return pg, nil
}

// stagebusEnv is the stagebus service's environment with its service addresses rewritten:
// KAFKA_BROKERS to the broker's loopback listeners, POSTGRES_HOST and POSTGRES_PORT to the
// cluster's. A broker address that names no listener stays as it is, and fails; the user,
// password and database are left for the real login to check.
func stagebusEnv(svc types.ServiceConfig, addrs composeAddrs) (map[string]string, error) {
	env := serviceEnv(svc)
	env["KAFKA_BROKERS"] = addrs.rewrite(env["KAFKA_BROKERS"])
	pgAddr := net.JoinHostPort(env["POSTGRES_HOST"], env["POSTGRES_PORT"])
	local, ok := addrs[pgAddr]
	if !ok {
		return nil, fmt.Errorf("stagebus: POSTGRES_HOST:POSTGRES_PORT is %s, which is not the postgres service (postgres:5432)", pgAddr)
	}
	host, port, _ := net.SplitHostPort(local)
	env["POSTGRES_HOST"], env["POSTGRES_PORT"] = host, port
	return env, nil
}

// requireKafkaRecord reads topic from the beginning of each partition and requires a record
// whose CloudEvents id header (ce_id) is id.
func requireKafkaRecord(t *testing.T, bootstrap, topic, id string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		require.NoError(t, err)
		require.Len(t, md.Topics, 1)
		for _, p := range md.Topics[0].Partitions {
			resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p.ID, Offset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
			require.NoError(t, err)
			require.NoError(t, resp.Error)
			for {
				r, err := resp.Records.ReadRecord()
				if err != nil {
					break
				}
				for _, h := range r.Headers {
					if h.Key == "ce_id" && string(h.Value) == id {
						return
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no record with ce_id=%s on Kafka topic %s", id, topic)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// syncBuffer is a bytes.Buffer a process writes to while the test reads it.
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
