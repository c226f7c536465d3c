package sqlbus_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*sqlbus.Config)
		key    string
	}{
		{"defaults", func(*sqlbus.Config) {}, ""},
		{"poll interval zero", func(c *sqlbus.Config) { c.PollInterval = 0 }, "pollInterval"},
		{"poll interval too long", func(c *sqlbus.Config) { c.PollInterval = 2 * time.Minute }, "pollInterval"},
		{"retention too short", func(c *sqlbus.Config) { c.Retention = time.Second }, "retention"},
		{"lease too short", func(c *sqlbus.Config) { c.LeaseTimeout = time.Millisecond }, "leaseTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c sqlbus.Config
			c.SetDefaults()
			tt.change(&c)
			err := c.Validate()
			if tt.key == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.key)
		})
	}
}
