package database

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/stagebus/stagebus/config"
)

// Clients accepted in backend.database.client.
const (
	ClientSQLite   = "sqlite"
	ClientPostgres = "pg"
)

// Config is backend.database.
type Config struct {
	// Client is sqlite (default) or pg.
	Client string `yaml:"client"`
	// Connection is, for sqlite, a file path (default ./data/stagebus.db) or :memory:; for
	// pg, a postgres:// URL, a keyword/value DSN, or an object {host, port, user, password,
	// database, sslmode}.
	Connection Connection `yaml:"connection"`
}

// SetDefaults selects SQLite in ./data/stagebus.db.
func (c *Config) SetDefaults() {
	c.Client = ClientSQLite
}

// Validate checks the client and that the connection suits it.
func (c Config) Validate() error {
	switch c.Client {
	case ClientSQLite:
		if c.Connection.object {
			return config.Fieldf("connection", "for sqlite, give a file path or :memory:, not an object")
		}
	case ClientPostgres:
		if c.Connection.DSN == "" && !c.Connection.object {
			return config.Fieldf("connection", "is required for pg: a postgres:// URL or an object {host, port, user, password, database}")
		}
	default:
		return config.Fieldf("client", "must be sqlite or pg, got %q", c.Client)
	}
	return nil
}

// Connection is backend.database.connection, written as a string or (for pg) an object.
type Connection struct {
	// DSN is the string form.
	DSN string `yaml:"-"`

	object   bool
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	User     string        `yaml:"user"`
	Password config.Secret `yaml:"password"`
	Database string        `yaml:"database"`
	SSLMode  string        `yaml:"sslmode"`
}

// UnmarshalConfig accepts a string or an object.
func (c *Connection) UnmarshalConfig(n *config.Node) error {
	if n.Kind == config.ScalarKind {
		*c = Connection{DSN: n.Value}
		return nil
	}
	type plain Connection // without UnmarshalConfig, so DecodeNode decodes the object's keys
	var p plain
	if err := config.DecodeNode(n, &p); err != nil {
		return err
	}
	*c = Connection(p)
	c.object = true
	return nil
}

// RedactedConfig prints the connection with its password removed.
func (c Connection) RedactedConfig() any {
	switch {
	case c.object:
		return config.RedactURL(c.postgresURL())
	case strings.Contains(c.DSN, "://"):
		return config.RedactURL(c.DSN)
	case strings.Contains(c.DSN, "="):
		return config.Redacted // a keyword/value DSN may hold a password anywhere
	}
	return c.DSN // a file path or :memory:
}

// postgresURL builds a postgres:// URL from the object form.
func (c Connection) postgresURL() string {
	u := url.URL{Scheme: "postgres", Host: c.Host, Path: "/" + c.Database}
	if c.Port != 0 {
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	}
	if c.User != "" {
		if c.Password != "" {
			u.User = url.UserPassword(c.User, c.Password.Value())
		} else {
			u.User = url.User(c.User)
		}
	}
	if c.SSLMode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(c.SSLMode)
	}
	return u.String()
}

// String describes the connection for logs, without secrets.
func (c Connection) String() string { return fmt.Sprint(c.RedactedConfig()) }
