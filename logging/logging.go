package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
)

// Config is backend.log.
type Config struct {
	// Level is the minimum level logged: trace, debug, info, warn or error. LOG_LEVEL wins.
	Level string `yaml:"level"`
}

// SetDefaults logs at info.
func (c *Config) SetDefaults() { c.Level = "info" }

// Validate checks the level name.
func (c Config) Validate() error {
	if _, err := parseLevel(c.Level); err != nil {
		return config.Fieldf("level", "%v", err)
	}
	return nil
}

// Format selects how log lines are written.
type Format string

// The formats: auto picks console for a terminal and JSON otherwise.
const (
	FormatAuto    Format = "auto"
	FormatJSON    Format = "json"
	FormatConsole Format = "console"
)

// ParseFormat checks a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatJSON, FormatConsole:
		return f, nil
	}
	return "", fmt.Errorf("unknown log format %q: use json, console or auto", s)
}

// Options are the process-level inputs that do not come from app-config.yaml.
type Options struct {
	Format Format
	// EnvLevel is LOG_LEVEL; when set it overrides backend.log.level.
	EnvLevel string
	// Out receives the log lines; standard output when nil.
	Out io.Writer
}

// New builds the logger.
func New(opts Options, cfg Config) (zerolog.Logger, error) {
	level := cfg.Level
	if opts.EnvLevel != "" {
		level = opts.EnvLevel
	}
	lvl, err := parseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("LOG_LEVEL: %w", err)
	}
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	w := out
	if opts.Format == FormatConsole || (opts.Format != FormatJSON && isTerminal(out)) {
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func parseLevel(s string) (zerolog.Level, error) {
	switch l := strings.ToLower(strings.TrimSpace(s)); l {
	case "trace", "debug", "info", "warn", "error":
		return zerolog.ParseLevel(l)
	}
	return zerolog.NoLevel, fmt.Errorf("unknown log level %q: use trace, debug, info, warn or error", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Module provides the zerolog.Logger from Options (supplied by the command) and backend.log.
var Module = fx.Module("logging",
	config.Provide[Config]("backend.log"),
	fx.Provide(New),
)
