package sqlbus

import (
	"errors"
	"time"

	"github.com/stagebus/stagebus/config"
)

// Config is events.sql.
type Config struct {
	// PollInterval is how often a reader looks for new messages when nothing woke it
	// (default 1s): the fallback for publishes from other instances that no notification
	// reached (SQLite shared by several processes, a lost LISTEN connection).
	PollInterval time.Duration `yaml:"pollInterval"`
	// Retention is how long published messages are kept (default 7 days, at least 1 minute).
	Retention time.Duration `yaml:"retention"`
	// LeaseTimeout is how long an instance keeps a group's topic after it last renewed it
	// (default 15s): the delay before another instance takes over from a killed one.
	LeaseTimeout time.Duration `yaml:"leaseTimeout"`
}

// SetDefaults fills in the defaults.
func (c *Config) SetDefaults() {
	*c = Config{PollInterval: time.Second, Retention: 7 * 24 * time.Hour, LeaseTimeout: 15 * time.Second}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	var errs []error
	if c.PollInterval < time.Millisecond || c.PollInterval > time.Minute {
		errs = append(errs, config.Fieldf("pollInterval", "must be between 1ms and 1m, got %s", c.PollInterval))
	}
	if c.Retention < time.Minute {
		errs = append(errs, config.Fieldf("retention", "must be at least 1m, got %s", c.Retention))
	}
	if c.LeaseTimeout < 100*time.Millisecond {
		errs = append(errs, config.Fieldf("leaseTimeout", "must be at least 100ms, got %s", c.LeaseTimeout))
	}
	return errors.Join(errs...)
}
