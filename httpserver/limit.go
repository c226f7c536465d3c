package httpserver

import (
	"fmt"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener admits at most total connections open at once, and at most perClient from
// one client IP address. A connection over either cap is closed as soon as it is accepted:
// left unaccepted it would wait in the kernel's backlog behind the slow ones, where health
// probes would wait too, and closing it at once keeps file descriptors within the cap.
// The per-client cap is below the total, so one client alone cannot take every slot.
type limitListener struct {
	net.Listener
	total, perClient int
	metrics          *connMetrics

	mu       sync.Mutex
	open     int
	byClient map[string]int
}

// Refusal reasons, the values of the reason label of stagebus_http_connections_refused_total.
const (
	refusedTotal  = "total"
	refusedClient = "client"
)

func newLimitListener(ln net.Listener, total, perClient int, m *connMetrics) *limitListener {
	return &limitListener{Listener: ln, total: total, perClient: perClient, metrics: m, byClient: map[string]int{}}
}

// Accept returns the next connection within the caps, closing those over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientIP(c.RemoteAddr())
		if reason := l.admit(client); reason != "" {
			l.metrics.refused.WithLabelValues(reason).Inc()
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

// admit takes a slot for client, or returns why it cannot.
func (l *limitListener) admit(client string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.total:
		return refusedTotal
	case l.byClient[client] >= l.perClient:
		return refusedClient
	}
	l.open++
	l.byClient[client]++
	l.metrics.open.Inc()
	return ""
}

func (l *limitListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	l.metrics.open.Dec()
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
}

// clientIP is the IP address of a remote address, or the whole address when it has no port.
func clientIP(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot once, however often it is called.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connMetrics are the connection gauges and counters of the listener.
type connMetrics struct {
	refused *prometheus.CounterVec
	open    prometheus.Gauge
}

func newConnMetrics(reg prometheus.Registerer) (*connMetrics, error) {
	m := &connMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebus_http_connections_refused_total",
			Help: "Connections closed on accept because backend.server.maxConnections (reason=total) or maxConnectionsPerClient (reason=client) was reached.",
		}, []string{"reason"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stagebus_http_connections_open",
			Help: "HTTP connections open now (accepted within the caps and not yet closed).",
		}),
	}
	for _, c := range []prometheus.Collector{m.refused, m.open} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register HTTP connection metrics: %w", err)
		}
	}
	m.refused.WithLabelValues(refusedTotal)
	m.refused.WithLabelValues(refusedClient)
	return m, nil
}
