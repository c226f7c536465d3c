package console

import "github.com/stagebus/stagebus/config"

// Config is the console section.
type Config struct {
	// Enabled serves the console at / (default true). Off, the console's routes do not exist
	// and the API is unchanged.
	Enabled bool `yaml:"enabled"`
	// MaxStreams caps the live-update streams open at once (default 64; 8 per person): each
	// is a connection and a poll of the event history per second.
	MaxStreams int `yaml:"maxStreams"`
}

// SetDefaults turns the console on.
func (c *Config) SetDefaults() { c.Enabled, c.MaxStreams = true, 64 }

// Validate checks the limits.
func (c Config) Validate() error {
	if c.MaxStreams < 1 || c.MaxStreams > 10000 {
		return config.Fieldf("maxStreams", "must be between 1 and 10000, got %d", c.MaxStreams)
	}
	return nil
}
