package httpserver_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/httpserver"
)

func TestListenConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		want    httpserver.Listen
		wantErr string
	}{
		{name: "default", yaml: "{}", want: httpserver.Listen{Host: "127.0.0.1", Port: 7007}},
		{name: "object, port only", yaml: "backend:\n  listen:\n    port: 7008\n", want: httpserver.Listen{Host: "127.0.0.1", Port: 7008}},
		{name: "Backstage string form", yaml: "backend:\n  listen: 0.0.0.0:8080\n", want: httpserver.Listen{Host: "0.0.0.0", Port: 8080}},
		{name: "string with port only means every interface", yaml: "backend:\n  listen: ':7007'\n", want: httpserver.Listen{Host: "0.0.0.0", Port: 7007}},
		{name: "bad string", yaml: "backend:\n  listen: localhost\n", wantErr: "backend.listen: expected host:port such as 0.0.0.0:7007"},
		{name: "port out of range", yaml: "backend:\n  listen:\n    port: 70000\n", wantErr: "backend.listen.port: must be between 0 and 65535, got 70000"},
		{name: "typo in the object form", yaml: "backend:\n  listen:\n    hots: x\n", wantErr: `backend.listen.hots: unknown key; did you mean "host"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "app-config.yaml")
			require.NoError(t, os.WriteFile(p, []byte(tt.yaml), 0o600))
			tree, err := config.Load([]string{p}, nil)
			require.NoError(t, err)
			c, err := config.Decode(tree, config.NewSection[httpserver.Listen]("backend.listen"), config.NewSection[httpserver.BaseURL]("backend.baseUrl"))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, config.Get[httpserver.Listen](c, "backend.listen"))
		})
	}
}
