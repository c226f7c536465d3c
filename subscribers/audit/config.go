package audit

import (
	"errors"
	"time"

	"github.com/stagebus/stagebus/config"
)

// ConfigPath is the configuration section of the audit log.
const ConfigPath = "auth.audit"

// Config is auth.audit: how the audit log is written and anchored.
type Config struct {
	// CheckpointInterval is how often the chain's head (row count and last hash) is logged,
	// published on auth.audit.checkpoint and exposed as metrics (default 5m).
	CheckpointInterval time.Duration `yaml:"checkpointInterval"`
	// MaxBatch bounds the individual records of one commit (default 512); failed records
	// beyond it are counted into aggregate records.
	MaxBatch int `yaml:"maxBatch"`
	// MaxAggregates bounds the distinct (event, reason, address) keys counted in memory
	// (default 1024); beyond it keys widen to (event, reason), then to one key.
	MaxAggregates int `yaml:"maxAggregates"`
	// CommitTimeout bounds how long a refused request waits for its audit record's commit
	// before it is answered anyway (default 5s; counted in stagebus_audit_unconfirmed_total).
	CommitTimeout time.Duration `yaml:"commitTimeout"`
}

// SetDefaults: a checkpoint every 5 minutes, batches of 512, 1024 keys, 5s.
func (c *Config) SetDefaults() {
	c.CheckpointInterval = 5 * time.Minute
	c.MaxBatch = 512
	c.MaxAggregates = 1024
	c.CommitTimeout = 5 * time.Second
}

// Validate reports every value out of range.
func (c Config) Validate() error {
	var errs []error
	if c.CheckpointInterval < time.Second {
		errs = append(errs, config.Fieldf("checkpointInterval", "must be at least 1s, got %s", c.CheckpointInterval))
	}
	if c.MaxBatch < 1 || c.MaxBatch > 10000 {
		errs = append(errs, config.Fieldf("maxBatch", "must be between 1 and 10000, got %d", c.MaxBatch))
	}
	if c.MaxAggregates < 1 || c.MaxAggregates > 1000000 {
		errs = append(errs, config.Fieldf("maxAggregates", "must be between 1 and 1000000, got %d", c.MaxAggregates))
	}
	if c.CommitTimeout < 10*time.Millisecond || c.CommitTimeout > time.Minute {
		errs = append(errs, config.Fieldf("commitTimeout", "must be between 10ms and 1m, got %s", c.CommitTimeout))
	}
	return errors.Join(errs...)
}
