package config

import "fmt"

// Environment is auth.environment: development enables conveniences such as guest sign-in
// that production refuses. The default is production.
type Environment string

// The environments.
const (
	Development Environment = "development"
	Production  Environment = "production"
)

// EnvironmentPath is the key of the [Environment] section, owned by the foundation.
const EnvironmentPath = "auth.environment"

// SetDefaults makes production the default.
func (e *Environment) SetDefaults() { *e = Production }

// Validate accepts development and production.
func (e Environment) Validate() error {
	if e != Development && e != Production {
		return fmt.Errorf("must be development or production, got %q", string(e))
	}
	return nil
}

// IsDevelopment reports whether development conveniences are allowed.
func (e Environment) IsDevelopment() bool { return e == Development }
