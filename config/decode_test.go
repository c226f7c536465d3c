package config

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type testListen struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
}

type testProvider struct {
	Organization string        `yaml:"organization"`
	CatalogPath  string        `yaml:"catalogPath"`
	Frequency    time.Duration `yaml:"frequency"`
}

func (p *testProvider) SetDefaults() { p.CatalogPath = "/catalog-info.yaml" }

func (p testProvider) Validate() error {
	if p.Organization == "" {
		return Fieldf("organization", "is required")
	}
	return nil
}

type testBackend struct {
	BaseURL    string                  `yaml:"baseUrl"`
	Listen     testListen              `yaml:"listen"`
	Timeout    time.Duration           `yaml:"timeout"`
	Token      Secret                  `yaml:"token"`
	Connection string                  `yaml:"connection" secret:"true"`
	Providers  map[string]testProvider `yaml:"providers"`
	Topics     []string                `yaml:"topics"`
	Verbose    bool                    `yaml:"verbose"`
	Ratio      float64                 `yaml:"ratio"`
}

func (b *testBackend) SetDefaults() {
	b.Listen = testListen{Host: "127.0.0.1", Port: 7007}
	b.Timeout = 5 * time.Second
}

func (b testBackend) Validate() error {
	var errs []error
	if b.Listen.Port < 0 || b.Listen.Port > 65535 {
		errs = append(errs, Fieldf("listen.port", "must be between 0 and 65535, got %d", b.Listen.Port))
	}
	return errors.Join(errs...)
}

func decodeYAML(t *testing.T, content string, environ ...string) (*Config, error) {
	t.Helper()
	paths := writeFiles(t, [2]string{"app-config.yaml", content})
	tree, err := Load(paths, environ)
	require.NoError(t, err)
	return Decode(tree, NewSection[testBackend]("backend"), NewSection[Environment](EnvironmentPath))
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		environ []string
		check   func(t *testing.T, b testBackend, c *Config)
	}{
		{
			name: "defaults when the section is absent",
			yaml: "app:\n  title: x\n",
			check: func(t *testing.T, b testBackend, c *Config) {
				require.Equal(t, testListen{Host: "127.0.0.1", Port: 7007}, b.Listen)
				require.Equal(t, 5*time.Second, b.Timeout)
				require.Equal(t, Production, Get[Environment](c, EnvironmentPath))
			},
		},
		{
			name: "values override defaults key by key",
			yaml: "backend:\n  listen:\n    port: 8080\n  timeout: 1m30s\n  topics: [a, b]\n  verbose: true\n  ratio: 0.5\nauth:\n  environment: development\n",
			check: func(t *testing.T, b testBackend, c *Config) {
				require.Equal(t, testListen{Host: "127.0.0.1", Port: 8080}, b.Listen)
				require.Equal(t, 90*time.Second, b.Timeout)
				require.Equal(t, []string{"a", "b"}, b.Topics)
				require.True(t, b.Verbose)
				require.Equal(t, 0.5, b.Ratio)
				require.True(t, Get[Environment](c, EnvironmentPath).IsDevelopment())
			},
		},
		{
			name:    "numbers and booleans written as strings by substitution are accepted",
			yaml:    "backend:\n  listen:\n    port: ${PORT:-7007}\n  verbose: ${VERBOSE}\n",
			environ: []string{"PORT=9000", "VERBOSE=true"},
			check: func(t *testing.T, b testBackend, c *Config) {
				require.Equal(t, 9000, b.Listen.Port)
				require.True(t, b.Verbose)
			},
		},
		{
			name: "durations in every accepted form",
			yaml: "backend:\n  timeout: {hours: 1, minutes: 30}\n  providers:\n    a: {organization: o, frequency: 14d}\n    b: {organization: o, frequency: {seconds: 2, milliseconds: 500}}\n",
			check: func(t *testing.T, b testBackend, c *Config) {
				require.Equal(t, 90*time.Minute, b.Timeout)
				require.Equal(t, 14*24*time.Hour, b.Providers["a"].Frequency)
				require.Equal(t, 2500*time.Millisecond, b.Providers["b"].Frequency)
			},
		},
		{
			name: "map entries get their own defaults",
			yaml: "backend:\n  providers:\n    main:\n      organization: acme\n",
			check: func(t *testing.T, b testBackend, c *Config) {
				require.Equal(t, testProvider{Organization: "acme", CatalogPath: "/catalog-info.yaml"}, b.Providers["main"])
			},
		},
		{
			name: "an unowned top-level key is only a warning",
			yaml: "app:\n  title: Portal\norganization:\n  name: ACME\n",
			check: func(t *testing.T, b testBackend, c *Config) {
				require.Len(t, c.Warnings(), 2)
				require.Contains(t, c.Warnings()[0], `app-config.yaml:1: top-level key "app" is not used by any Stagebus module`)
				require.Contains(t, c.Warnings()[1], `app-config.yaml:3: top-level key "organization"`)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := decodeYAML(t, tt.yaml, tt.environ...)
			require.NoError(t, err)
			tt.check(t, Get[testBackend](c, "backend"), c)
		})
	}
}

func TestDecodeProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // every line must appear, in this order
	}{
		{
			name: "unknown key names file, line, key path and the nearest valid key",
			yaml: "backend:\n  listen:\n    prot: 7008\n",
			want: []string{`app-config.yaml:3: backend.listen.prot: unknown key; did you mean "port"?`},
		},
		{
			name: "unknown key far from any valid key lists the valid keys",
			yaml: "backend:\n  listen:\n    zzzzzzzz: 1\n",
			want: []string{`app-config.yaml:3: backend.listen.zzzzzzzz: unknown key; valid keys here: host, port`},
		},
		{
			name: "unknown key beside owned sections",
			yaml: "auth:\n  enviroment: development\n",
			want: []string{`app-config.yaml:2: auth.enviroment: unknown key; did you mean "environment"?`},
		},
		{
			name: "wrong types",
			yaml: "backend:\n  listen:\n    port: abc\n  topics: github\n  verbose: yes please\n  listen2: 1\n",
			want: []string{
				`app-config.yaml:3: backend.listen.port: expected an integer, got the string "abc"`,
				`app-config.yaml:4: backend.topics: expected a list, got the string "github"`,
				`app-config.yaml:5: backend.verbose: expected true or false, got the string "yes please"`,
				`app-config.yaml:6: backend.listen2: unknown key; did you mean "listen"?`,
			},
		},
		{
			name: "an object where a scalar belongs and a bad duration",
			yaml: "backend:\n  baseUrl:\n    a: 1\n  timeout: soon\n",
			want: []string{
				`app-config.yaml:2: backend.baseUrl: expected a string, got an object`,
				`app-config.yaml:4: backend.timeout: expected a duration such as 30s, 5m, 1h or 14d, got the string "soon"`,
			},
		},
		{
			name: "Validate problems point at the key, including in map entries",
			yaml: "backend:\n  listen:\n    port: 70000\n  providers:\n    main:\n      catalogPath: /x.yaml\nauth:\n  environment: staging\n",
			want: []string{
				`app-config.yaml:3: backend.listen.port: must be between 0 and 65535, got 70000`,
				`app-config.yaml:5: backend.providers.main.organization: is required`,
				`app-config.yaml:8: auth.environment: must be development or production, got "staging"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeYAML(t, tt.yaml)
			require.Error(t, err)
			var ps Problems
			require.ErrorAs(t, err, &ps)
			require.Len(t, ps, len(tt.want), err.Error())
			for i, w := range tt.want {
				require.Contains(t, ps[i].Error(), w)
			}
		})
	}
}

func TestDecodeOverlappingSections(t *testing.T) {
	t.Parallel()
	tree, err := Load(writeFiles(t, [2]string{"a.yaml", "k: 1\n"}), nil)
	require.NoError(t, err)
	_, err = Decode(tree, NewSection[testListen]("backend.listen"), NewSection[testBackend]("backend"))
	require.ErrorContains(t, err, `config sections overlap: "backend" and "backend.listen"`)
}

func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	yaml := `
app:
  title: Portal
  github:
    apiToken: app-token-value
backend:
  baseUrl: http://localhost:7007
  token: backend-token-value
  connection: postgres://u:pw-value@db/x
  providers:
    p:
      organization: acme
auth:
  environment: development
gone:
  away: null
`
	c, err := decodeYAML(t, yaml)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, c.Print(&buf))
	out := buf.String()
	for _, secret := range []string{"app-token-value", "backend-token-value", "pw-value"} {
		require.NotContains(t, out, secret)
	}
	for _, want := range []string{
		"title: Portal",
		"apiToken: '" + Redacted + "'",
		"token: '" + Redacted + "'",
		"connection: '" + Redacted + "'",
		"port: 7007",                      // a default
		"catalogPath: /catalog-info.yaml", // a map entry's default
		"timeout: 5s",
		"environment: development",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "gone")
}

func TestSecretNeverFormats(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v", s, s, s), fmt.Sprintf("%+v", struct{ S Secret }{s})} {
		require.NotContains(t, out, "hunter2")
	}
	b, err := s.MarshalText()
	require.NoError(t, err)
	require.Equal(t, Redacted, string(b))
	require.Equal(t, "hunter2", s.Value())
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:pw@db:5432/x?sslmode=disable", "postgres://u:" + Redacted + "@db:5432/x?sslmode=disable"},
		{"postgres://u@db/x", "postgres://u@db/x"},
		{"postgres://db/x?password=pw&sslmode=disable", "postgres://db/x?password=" + Redacted + "&sslmode=disable"},
		{"host=db password=pw", Redacted},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, RedactURL(tt.in))
	}
}
