package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

// repoRoot is where docker-compose.yml, the Dockerfile and the README live.
const repoRoot = "../.."

// The configuration layers the image runs with, as the Dockerfile's ENTRYPOINT names them
// inside the container.
var imageConfigs = []string{"/app/app-config.yaml", "/app/app-config.production.yaml"}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	require.NoError(t, err)
	return string(b)
}

// loadCompose loads docker-compose.yml the way `docker compose up` does, with an empty
// environment: what a user gets without setting anything.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("stagebus", true) })
	require.NoError(t, err, "docker-compose.yml does not load")
	return p
}

// productionListen is backend.listen of the image's configuration with an empty environment.
func productionListen(t *testing.T) httpserver.Listen {
	t.Helper()
	tree, err := config.Load([]string{filepath.Join(repoRoot, "app-config.yaml"), filepath.Join(repoRoot, "app-config.production.yaml")}, nil)
	require.NoError(t, err)
	var l httpserver.Listen
	l.SetDefaults()
	require.NoError(t, config.DecodeNode(tree.Root().Lookup("backend.listen"), &l))
	return l
}

// TestComposeFile checks docker-compose.yml without a Docker engine: the services, their
// healthchecks and start order, the defaults of every variable, the published port against
// the listen port, and the mounted configuration (which must pass `platform config check`
// with an empty environment). `make e2e` runs the same configuration for real.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	listen := productionListen(t)

	t.Run("services", func(t *testing.T) {
		require.ElementsMatch(t, []string{"kafka", "postgres", "stagebus"}, p.ServiceNames())
		require.True(t, strings.HasPrefix(p.Services["kafka"].Image, "apache/kafka:4."), "kafka: the official apache/kafka 4.x image, got %q", p.Services["kafka"].Image)
		require.True(t, strings.HasPrefix(p.Services["postgres"].Image, "postgres:"), "postgres: the official image, got %q", p.Services["postgres"].Image)
		build := p.Services["stagebus"].Build
		require.NotNil(t, build, "stagebus is built from the repository")
		require.Equal(t, p.WorkingDir, build.Context, "build: . (the repository root)")
		require.Equal(t, "Dockerfile", build.Dockerfile)
	})

	t.Run("kafka is a single KRaft node", func(t *testing.T) {
		env := p.Services["kafka"].Environment
		require.Equal(t, "broker,controller", deref(env["KAFKA_PROCESS_ROLES"]))
		require.Equal(t, "1", deref(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]), "one node cannot hold three replicas of the offsets topic")
		advertised := deref(env["KAFKA_ADVERTISED_LISTENERS"])
		brokers := deref(p.Services["stagebus"].Environment["KAFKA_BROKERS"])
		require.Contains(t, advertised, "://"+brokers, "stagebus's KAFKA_BROKERS must be an advertised listener")
	})

	t.Run("healthchecks", func(t *testing.T) {
		for _, name := range []string{"kafka", "postgres"} {
			hc := p.Services[name].HealthCheck
			require.NotNil(t, hc, "%s has no healthcheck", name)
			require.False(t, hc.Disable, name)
			require.NotEmpty(t, hc.Test, name)
			require.NotNil(t, hc.Interval, name)
			require.NotNil(t, hc.Retries, name)
		}
		// Stagebus's own is in the image (see TestDockerfile), unless compose overrides it.
		if hc := p.Services["stagebus"].HealthCheck; hc != nil {
			require.False(t, hc.Disable, "stagebus's healthcheck is disabled")
		}
	})

	t.Run("start order", func(t *testing.T) {
		deps := p.Services["stagebus"].DependsOn
		for _, name := range []string{"kafka", "postgres"} {
			require.Contains(t, deps, name)
			require.Equal(t, types.ServiceConditionHealthy, deps[name].Condition, "stagebus must wait for %s to be healthy", name)
		}
	})

	t.Run("published port is the listen port on every interface", func(t *testing.T) {
		require.Equal(t, "0.0.0.0", listen.Host, "inside a container 127.0.0.1 cannot be reached from outside")
		ports := p.Services["stagebus"].Ports
		require.Len(t, ports, 1)
		require.Equal(t, uint32(listen.Port), ports[0].Target, "the container port must be backend.listen.port")
		require.Equal(t, strconv.Itoa(listen.Port), ports[0].Published)
	})

	t.Run("mounted config is the repository's and is valid", func(t *testing.T) {
		var mounted bool
		for _, v := range p.Services["stagebus"].Volumes {
			if v.Type != types.VolumeTypeBind || !slices.Contains(imageConfigs, v.Target) {
				continue
			}
			mounted = true
			require.FileExists(t, v.Source)
			require.Equal(t, "app-config.production.yaml", filepath.Base(v.Source))
			require.True(t, v.ReadOnly, "mount %s read-only", v.Target)
		}
		require.True(t, mounted, "app-config.production.yaml is not mounted at %s", imageConfigs[1])

		// The environment the container gets, as compose resolves it with nothing set.
		var environ []string
		for k, v := range p.Services["stagebus"].Environment {
			environ = append(environ, k+"="+deref(v))
		}
		args := []string{"config", "check", "--config", filepath.Join(repoRoot, "app-config.yaml"), "--config", filepath.Join(repoRoot, "app-config.production.yaml")}
		for _, env := range [][]string{nil, environ} {
			code, stdout, stderr := runCLI(t, env, args...)
			require.Equal(t, 0, code, "platform config check with environment %v: %s", env, stderr)
			require.Contains(t, stdout, "configuration OK")
		}
	})

	t.Run("every variable has a default, the same in both files", func(t *testing.T) {
		defaults := map[string]string{}
		for _, name := range []string{"docker-compose.yml", "app-config.production.yaml"} {
			for _, ref := range variableRefs(readRepoFile(t, name)) {
				require.True(t, ref.defaulted, "%s: ${%s} has no default; write ${%s:-value} so that an empty environment works", name, ref.text, ref.name)
				if d, ok := defaults[ref.name]; ok {
					require.Equal(t, d, ref.value, "%s: the default of %s differs from docker-compose.yml's", name, ref.name)
				}
				defaults[ref.name] = ref.value
			}
		}
	})

	t.Run("secrets come from the named variables", func(t *testing.T) {
		compose := readRepoFile(t, "docker-compose.yml")
		for _, v := range composeSecrets {
			require.Contains(t, composeVariables(compose), v, "docker-compose.yml does not read %s", v)
		}
		require.Equal(t, deref(p.Services["postgres"].Environment["POSTGRES_PASSWORD"]), deref(p.Services["stagebus"].Environment["POSTGRES_PASSWORD"]),
			"PostgreSQL and Stagebus must get the same POSTGRES_PASSWORD")
	})
}

// composeSecrets are the variables the issue, the compose file and the README name.
var composeSecrets = []string{"STAGEBUS_ADMIN_TOKEN", "GITHUB_WEBHOOK_SECRET", "POSTGRES_PASSWORD"}

// TestReadmeFullStackMatchesCompose checks that the README's "Run the full stack" section
// names only variables that docker-compose.yml reads, with the defaults it has, and only the
// port it publishes.
func TestReadmeFullStackMatchesCompose(t *testing.T) {
	t.Parallel()
	section := readmeSection(t, "Run the full stack")
	compose := readRepoFile(t, "docker-compose.yml")
	vars := composeVariables(compose)
	p := loadCompose(t)

	named := regexp.MustCompile("`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`").FindAllStringSubmatch(section, -1)
	require.NotEmpty(t, named, "the section names no variables")
	for _, m := range named {
		require.Contains(t, vars, m[1], "the README names %s, which docker-compose.yml does not read", m[1])
	}
	for _, v := range composeSecrets {
		require.Contains(t, section, "`"+v+"`", "the README does not name %s", v)
	}
	// Defaults written in the README's commands (${VAR:-value}) are the compose file's.
	for _, ref := range variableRefs(section) {
		if ref.defaulted {
			require.Equal(t, vars[ref.name], ref.value, "the README's default for %s differs from docker-compose.yml's", ref.name)
		}
	}
	published := map[string]bool{}
	for _, port := range p.Services["stagebus"].Ports {
		published[port.Published] = true
	}
	ports := regexp.MustCompile(`localhost:(\d+)`).FindAllStringSubmatch(section, -1)
	require.NotEmpty(t, ports, "the section's commands name no port")
	for _, m := range ports {
		require.True(t, published[m[1]], "the README uses localhost:%s, which docker-compose.yml does not publish", m[1])
	}
	require.Contains(t, section, "docker compose up")
}

// TestDockerfile checks what the issue asks of the image, as far as the text can show it.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	df := readRepoFile(t, "Dockerfile")
	listen := productionListen(t)
	tests := []struct {
		name    string
		pattern string
	}{
		{"multi-stage build", `(?m)^FROM \S+ AS build$`},
		{"static binary", `CGO_ENABLED=0 go build`},
		{"small final image", `(?m)^FROM gcr\.io/distroless/static\S*$`},
		{"explicit non-root user", `(?m)^USER [1-9][0-9]*:[1-9][0-9]*$`},
		{"exposes the listen port", fmt.Sprintf(`(?m)^EXPOSE %d$`, listen.Port)},
		{"healthcheck needs no shell", `(?m)CMD \["/platform", "health", "--config", "` + imageConfigs[0] + `", "--config", "` + imageConfigs[1] + `"\]$`},
		{"runs the production layer", `(?m)^ENTRYPOINT \["/platform", "--config", "` + imageConfigs[0] + `", "--config", "` + imageConfigs[1] + `"\]$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Regexp(t, tt.pattern, df)
		})
	}
}

// varRef is one ${…} reference in a file.
type varRef struct {
	text, name, value string
	defaulted         bool
}

// varPattern matches ${NAME}, ${NAME:-default} and ${NAME-default}, not $${ (a literal).
var varPattern = regexp.MustCompile(`(^|[^$])\$\{([A-Za-z_][A-Za-z0-9_]*)((:?-)([^}]*))?\}`)

func variableRefs(text string) []varRef {
	var refs []varRef
	for _, m := range varPattern.FindAllStringSubmatch(text, -1) {
		refs = append(refs, varRef{text: strings.TrimPrefix(m[0], m[1])[2 : len(m[0])-len(m[1])-1], name: m[2], value: m[5], defaulted: m[4] != ""})
	}
	return refs
}

// composeVariables maps each variable docker-compose.yml reads to its default.
func composeVariables(compose string) map[string]string {
	vars := map[string]string{}
	for _, r := range variableRefs(compose) {
		vars[r.name] = r.value
	}
	return vars
}

// readmeSection returns the text of the README's "## title" section.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	readme := readRepoFile(t, "README.md")
	_, after, ok := strings.Cut(readme, "\n## "+title+"\n")
	require.True(t, ok, "README.md has no %q section", title)
	section, _, _ := strings.Cut(after, "\n## ")
	return section
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
