package httpserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/stagebus/stagebus/config"
)

// Listen is backend.listen: where the server accepts connections. Like Backstage, it may be
// written as an object {host, port} or as a string "host:port" (":7007" means every
// interface).
type Listen struct {
	// Host is the address to bind; 127.0.0.1 by default, 0.0.0.0 for every interface.
	Host string `yaml:"host"`
	// Port is the TCP port; 7007 by default, 0 picks a free one.
	Port int `yaml:"port"`
}

// SetDefaults binds 127.0.0.1:7007.
func (l *Listen) SetDefaults() { *l = Listen{Host: "127.0.0.1", Port: 7007} }

// UnmarshalConfig accepts "host:port" strings as well as objects.
func (l *Listen) UnmarshalConfig(n *config.Node) error {
	if n.Kind != config.ScalarKind || n.Tag != "!!str" {
		type plain Listen // without UnmarshalConfig, so DecodeNode uses the object form
		p := plain(*l)
		if err := config.DecodeNode(n, &p); err != nil {
			return err
		}
		*l = Listen(p)
		return nil
	}
	host, port, err := net.SplitHostPort(n.Value)
	if err != nil {
		return fmt.Errorf("expected host:port such as 0.0.0.0:7007 or an object {host, port}, got %q", n.Value)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("port %q in %q is not a number", port, n.Value)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	*l = Listen{Host: host, Port: p}
	return nil
}

// Validate checks the port range.
func (l Listen) Validate() error {
	if l.Port < 0 || l.Port > 65535 {
		return config.Fieldf("port", "must be between 0 and 65535, got %d", l.Port)
	}
	if l.Host == "" {
		return config.Fieldf("host", "must not be empty; use 0.0.0.0 to listen on every interface")
	}
	return nil
}

// Addr returns host:port.
func (l Listen) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// BaseURL is backend.baseUrl: the URL under which clients reach this backend.
type BaseURL string

// SetDefaults uses http://localhost:7007.
func (b *BaseURL) SetDefaults() { *b = "http://localhost:7007" }

// Validate requires an absolute http(s) URL.
func (b BaseURL) Validate() error {
	u, err := url.Parse(string(b))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL such as http://localhost:7007")
	}
	return nil
}

// Settings is backend.server: how long the server waits for clients and how many connections
// it holds, so that slow or idle clients cannot pin goroutines and file descriptors. Backstage
// names are used where Backstage has the concept (headersTimeout, keepAliveTimeout). Durations
// are written as 30s, 2m or {seconds: 30}.
type Settings struct {
	// HeadersTimeout bounds reading a request's headers, from the first byte (default 10s).
	HeadersTimeout time.Duration `yaml:"headersTimeout"`
	// BodyReadTimeout bounds receiving one request's body, counted from the end of its
	// headers (default 30s). A body still incomplete then is answered 408 and the connection
	// is closed; requests without a body are not affected.
	BodyReadTimeout time.Duration `yaml:"bodyReadTimeout"`
	// WriteTimeout bounds a request from the end of its headers to the end of its response,
	// body reading included (default 60s, and it must exceed bodyReadTimeout so that the 408
	// can be written). /debug/pprof/profile and /trace extend it by their ?seconds=.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// KeepAliveTimeout is how long an idle keep-alive connection stays open (default 2m).
	KeepAliveTimeout time.Duration `yaml:"keepAliveTimeout"`
	// MaxConnections caps the connections open at once (default 2048). Connections beyond it
	// are closed as soon as they are accepted, rather than left waiting in the kernel's
	// backlog, and counted in stagebus_http_connections_refused_total{reason="total"}.
	MaxConnections int `yaml:"maxConnections"`
	// MaxConnectionsPerClient caps the connections open at once from one client IP address
	// (default 256, at most maxConnections), so that one client cannot take every connection
	// and starve other clients, health probes included. The excess is closed on accept
	// (reason="client"). Behind a reverse proxy every connection comes from the proxy: raise
	// it to maxConnections there.
	MaxConnectionsPerClient int `yaml:"maxConnectionsPerClient"`
}

// SetDefaults: 10s headers, 30s body, 60s write, 2m keep-alive, 2048 connections, 256 per
// client.
func (s *Settings) SetDefaults() {
	*s = Settings{
		HeadersTimeout:          10 * time.Second,
		BodyReadTimeout:         30 * time.Second,
		WriteTimeout:            60 * time.Second,
		KeepAliveTimeout:        2 * time.Minute,
		MaxConnections:          2048,
		MaxConnectionsPerClient: 256,
	}
}

// Validate requires positive values, writeTimeout above bodyReadTimeout and the per-client
// cap within the total; every problem names its key.
func (s Settings) Validate() error {
	var errs []error
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"headersTimeout", s.HeadersTimeout},
		{"bodyReadTimeout", s.BodyReadTimeout},
		{"writeTimeout", s.WriteTimeout},
		{"keepAliveTimeout", s.KeepAliveTimeout},
	} {
		if d.val <= 0 {
			errs = append(errs, config.Fieldf(d.key, "must be a positive duration such as 30s"))
		}
	}
	if s.WriteTimeout > 0 && s.BodyReadTimeout > 0 && s.WriteTimeout <= s.BodyReadTimeout {
		errs = append(errs, config.Fieldf("writeTimeout", "must be longer than bodyReadTimeout (%s), so that a 408 can still be written; got %s", s.BodyReadTimeout, s.WriteTimeout))
	}
	if s.MaxConnections < 1 {
		errs = append(errs, config.Fieldf("maxConnections", "must be at least 1, got %d", s.MaxConnections))
	}
	if s.MaxConnectionsPerClient < 1 || s.MaxConnectionsPerClient > s.MaxConnections {
		errs = append(errs, config.Fieldf("maxConnectionsPerClient", "must be from 1 to maxConnections (%d), got %d", s.MaxConnections, s.MaxConnectionsPerClient))
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields of s from the defaults, for callers of [New] that leave
// Params.Settings empty.
func (s Settings) withDefaults() Settings {
	var d Settings
	d.SetDefaults()
	if s.HeadersTimeout == 0 {
		s.HeadersTimeout = d.HeadersTimeout
	}
	if s.BodyReadTimeout == 0 {
		s.BodyReadTimeout = d.BodyReadTimeout
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = d.WriteTimeout
	}
	if s.KeepAliveTimeout == 0 {
		s.KeepAliveTimeout = d.KeepAliveTimeout
	}
	if s.MaxConnections == 0 {
		s.MaxConnections = d.MaxConnections
	}
	if s.MaxConnectionsPerClient == 0 {
		s.MaxConnectionsPerClient = min(d.MaxConnectionsPerClient, s.MaxConnections)
	}
	return s
}
