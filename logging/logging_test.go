package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       Options
		cfg        Config
		wantJSON   bool
		wantLogged []string // messages expected among debug, info, warn
	}{
		{name: "JSON at the configured level", cfg: Config{Level: "info"}, wantJSON: true, wantLogged: []string{"info", "warn"}},
		{name: "LOG_LEVEL wins over backend.log.level", opts: Options{EnvLevel: "warn"}, cfg: Config{Level: "debug"}, wantJSON: true, wantLogged: []string{"warn"}},
		{name: "debug from config", cfg: Config{Level: "debug"}, wantJSON: true, wantLogged: []string{"debug", "info", "warn"}},
		{name: "console when asked", opts: Options{Format: FormatConsole}, cfg: Config{Level: "info"}, wantLogged: []string{"info", "warn"}},
		{name: "auto is JSON when not a terminal", opts: Options{Format: FormatAuto}, cfg: Config{Level: "info"}, wantJSON: true, wantLogged: []string{"info", "warn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.opts.Out = &buf
			log, err := New(tt.opts, tt.cfg)
			require.NoError(t, err)
			log.Debug().Msg("debug")
			log.Info().Msg("info")
			log.Warn().Msg("warn")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			require.Len(t, lines, len(tt.wantLogged), buf.String())
			for i, line := range lines {
				var entry map[string]any
				err := json.Unmarshal([]byte(line), &entry)
				if tt.wantJSON {
					require.NoError(t, err, line)
					require.Equal(t, tt.wantLogged[i], entry["message"])
					require.Contains(t, entry, "time")
				} else {
					require.Error(t, err, "console lines are not JSON")
					require.Contains(t, line, tt.wantLogged[i])
				}
			}
		})
	}
}

func TestLevelErrors(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, Config{Level: "loud"}.Validate(), `level: unknown log level "loud"`)
	_, err := New(Options{EnvLevel: "verbose", Out: &bytes.Buffer{}}, Config{Level: "info"})
	require.ErrorContains(t, err, `LOG_LEVEL: unknown log level "verbose"`)
	_, err = ParseFormat("xml")
	require.Error(t, err)
}
