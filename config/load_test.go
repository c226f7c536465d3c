package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeFiles writes name→content files into a temporary directory and returns their paths in
// the order given.
func writeFiles(t *testing.T, files ...[2]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f[0])
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(f[1]), 0o600))
		paths = append(paths, p)
	}
	return paths
}

func TestLoadLayering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   [][2]string
		load    int // how many of the files are passed as --config (the rest are only included)
		environ []string
		path    string
		want    any // nil: absent
	}{
		{
			name:  "later file wins for scalars",
			files: [][2]string{{"a.yaml", "backend:\n  listen:\n    port: 7007\n"}, {"b.yaml", "backend:\n  listen:\n    port: 8008\n"}},
			path:  "backend.listen.port", want: int64(8008),
		},
		{
			name:  "objects deep-merge",
			files: [][2]string{{"a.yaml", "backend:\n  listen:\n    port: 7007\n    host: 0.0.0.0\n"}, {"b.yaml", "backend:\n  listen:\n    port: 8008\n"}},
			path:  "backend.listen.host", want: "0.0.0.0",
		},
		{
			name:  "arrays replace",
			files: [][2]string{{"a.yaml", "events:\n  http:\n    topics: [github, gitlab]\n"}, {"b.yaml", "events:\n  http:\n    topics: [gitea]\n"}},
			path:  "events.http.topics", want: []any{"gitea"},
		},
		{
			name:  "nested null in the later file is absent and not taken from the earlier file",
			files: [][2]string{{"a.yaml", "catalog:\n  locations:\n    target: ./a.yaml\n  rules: x\n"}, {"b.yaml", "catalog:\n  locations:\n    target: null\n"}},
			path:  "catalog.locations.target", want: nil,
		},
		{
			name:  "null of a whole object drops it",
			files: [][2]string{{"a.yaml", "catalog:\n  locations:\n    target: ./a.yaml\n"}, {"b.yaml", "catalog:\n  locations: ~\n"}},
			path:  "catalog.locations", want: nil,
		},
		{
			name:  "a key set after a null in a later file is back",
			files: [][2]string{{"a.yaml", "x:\n  y: 1\n"}, {"b.yaml", "x:\n  y: null\n"}, {"c.yaml", "x:\n  y: 3\n"}},
			path:  "x.y", want: int64(3),
		},
		{
			name:    "APP_CONFIG_ override parsed as JSON",
			files:   [][2]string{{"a.yaml", "backend:\n  listen:\n    port: 7007\n"}},
			environ: []string{"APP_CONFIG_backend_listen_port=7008"},
			path:    "backend.listen.port", want: int64(7008),
		},
		{
			name:    "APP_CONFIG_ override that is not JSON is a string",
			files:   [][2]string{{"a.yaml", "backend:\n  baseUrl: http://a\n"}},
			environ: []string{"APP_CONFIG_backend_baseUrl=http://b:7007"},
			path:    "backend.baseUrl", want: "http://b:7007",
		},
		{
			name:    "APP_CONFIG_ override with a JSON list",
			files:   [][2]string{{"a.yaml", "events:\n  http:\n    topics: [github]\n"}},
			environ: []string{`APP_CONFIG_events_http_topics=["gitlab","gitea"]`},
			path:    "events.http.topics", want: []any{"gitlab", "gitea"},
		},
		{
			name:    "APP_CONFIG_ null unsets",
			files:   [][2]string{{"a.yaml", "backend:\n  baseUrl: http://a\n"}},
			environ: []string{"APP_CONFIG_backend_baseUrl=null"},
			path:    "backend.baseUrl", want: nil,
		},
		{
			name:    "${VAR:-d} with VAR set",
			files:   [][2]string{{"a.yaml", "backend:\n  baseUrl: http://${HOST:-localhost}:7007\n"}},
			environ: []string{"HOST=example.com"},
			path:    "backend.baseUrl", want: "http://example.com:7007",
		},
		{
			name:  "${VAR:-d} with VAR unset takes the default",
			files: [][2]string{{"a.yaml", "backend:\n  baseUrl: http://${HOST:-localhost}:7007\n"}},
			path:  "backend.baseUrl", want: "http://localhost:7007",
		},
		{
			name:    "${VAR:-d} with VAR empty takes the default",
			files:   [][2]string{{"a.yaml", "backend:\n  baseUrl: http://${HOST:-localhost}:7007\n"}},
			environ: []string{"HOST="},
			path:    "backend.baseUrl", want: "http://localhost:7007",
		},
		{
			name:  "${VAR} unset makes the value absent, so the earlier file applies",
			files: [][2]string{{"a.yaml", "k:\n  v: base\n"}, {"b.yaml", "k:\n  v: ${NOT_SET_ANYWHERE}\n"}},
			path:  "k.v", want: "base",
		},
		{
			name:  "$${ is a literal ${",
			files: [][2]string{{"a.yaml", "k:\n  v: 'cost $${PRICE} and $$ alone'\n"}},
			path:  "k.v", want: "cost ${PRICE} and $$ alone",
		},
		{
			name:    "$env",
			files:   [][2]string{{"a.yaml", "k:\n  v:\n    $env: TOKEN\n"}},
			environ: []string{"TOKEN=abc"},
			path:    "k.v", want: "abc",
		},
		{
			name:  "$file relative to the including file, trailing newline removed",
			files: [][2]string{{"conf/a.yaml", "k:\n  v:\n    $file: secrets/token.txt\n"}, {"conf/secrets/token.txt", "s3cret\n"}},
			load:  1,
			path:  "k.v", want: "s3cret",
		},
		{
			name:  "$include with a dot path",
			files: [][2]string{{"a.yaml", "k:\n  v:\n    $include: sub/inc.yaml#outer.inner\n"}, {"sub/inc.yaml", "outer:\n  inner:\n    deep: 42\n"}},
			load:  1,
			path:  "k.v.deep", want: int64(42),
		},
		{
			name:  "$include of a whole JSON file",
			files: [][2]string{{"a.yaml", "k:\n  $include: inc.json\n"}, {"inc.json", `{"deep": {"x": true}}`}},
			load:  1,
			path:  "k.deep.x", want: true,
		},
		{
			name:    "substitutions inside included files",
			files:   [][2]string{{"a.yaml", "k:\n  $include: inc.yaml\n"}, {"inc.yaml", "x: ${V:-d}\n"}},
			load:    1,
			environ: []string{"V=from-env"},
			path:    "k.x", want: "from-env",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			paths := writeFiles(t, tt.files...)
			if tt.load > 0 {
				paths = paths[:tt.load]
			}
			tree, err := Load(paths, tt.environ)
			require.NoError(t, err)
			n := tree.Root().Lookup(tt.path)
			if tt.want == nil {
				require.Nil(t, n, "%s should be absent", tt.path)
				return
			}
			require.NotNil(t, n, "%s should be present", tt.path)
			require.Equal(t, tt.want, n.plain())
		})
	}
}

func TestLoadProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   [][2]string
		environ []string
		want    []string
	}{
		{
			name:  "missing file names the flag",
			files: nil,
			want:  []string{"nope.yaml: file not found; create it or pass the file to read with --config FILE"},
		},
		{
			name:  "YAML syntax error names the file and line",
			files: [][2]string{{"a.yaml", "backend:\n  listen: [\n"}},
			want:  []string{"a.yaml:2: not valid YAML: did not find expected node content"},
		},
		{
			name:  "unknown directive",
			files: [][2]string{{"a.yaml", "k:\n  v:\n    $envv: X\n"}},
			want:  []string{`a.yaml:3: k.v: unknown directive "$envv"`},
		},
		{
			name:  "missing include and unclosed substitution are both reported",
			files: [][2]string{{"a.yaml", "k:\n  v:\n    $include: gone.yaml\n  w: ${OPEN\n"}},
			want:  []string{"gone.yaml: file not found", "(included from ", "a.yaml:4: k.w: unclosed ${"},
		},
		{
			name:    "empty key in an APP_CONFIG_ name",
			files:   [][2]string{{"a.yaml", "k: 1\n"}},
			environ: []string{"APP_CONFIG_backend__port=1"},
			want:    []string{"env APP_CONFIG_backend__port: empty key"},
		},
		{
			name:  "include cycle stops",
			files: [][2]string{{"a.yaml", "k:\n  $include: a.yaml\n"}},
			want:  []string{"too deeply nested"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			paths := writeFiles(t, tt.files...)
			if len(paths) == 0 {
				paths = []string{filepath.Join(t.TempDir(), "nope.yaml")}
			} else {
				paths = paths[:1]
			}
			_, err := Load(paths, tt.environ)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "1", "EMPTY": ""}
	tests := []struct {
		in, want string
		absent   bool
		err      bool
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "1"},
		{in: "x${A}y${A}", want: "x1y1"},
		{in: "${ A }", want: "1"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${B:-with:colon}", want: "with:colon"},
		{in: "${B:-}", want: ""},
		{in: "${B}", absent: true},
		{in: "pre ${B} post", absent: true},
		{in: "$${A}", want: "${A}"},
		{in: "$$${A}", want: "$${A}"},
		{in: "${}", err: true},
		{in: "${A", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok, err := substitute(tt.in, env)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, !tt.absent, ok)
			if ok {
				require.Equal(t, tt.want, got)
			}
		})
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"plain", "${A}", "${A:-d}", "$${A}", "${", "a${B}c", "${:-}", "$$$${A}}"} {
		f.Add(s)
	}
	env := map[string]string{"A": "1"}
	f.Fuzz(func(t *testing.T, s string) {
		out, ok, err := substitute(s, env)
		if err != nil || !ok {
			return
		}
		if !strings.Contains(s, "${") && out != s {
			t.Fatalf("text without ${ changed: %q -> %q", s, out)
		}
	})
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"backend:\n  listen:\n    port: 7007\n",
		"k:\n  $include: x.yaml#a.b\n",
		"a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n",
		"k: ${A:-d}\n",
		"- 1\n- 2\n",
		"k: [\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "app-config.yaml")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tree, err := Load([]string{p}, []string{"A=1"})
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Load returned %T, want Problems", err)
			}
			return
		}
		if tree.Root() == nil || tree.Root().Kind != MapKind {
			t.Fatal("Load returned a tree without a top-level object")
		}
	})
}
