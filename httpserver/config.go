package httpserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

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
