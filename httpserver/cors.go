package httpserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stagebus/stagebus/config"
)

// CORS is backend.cors, Backstage's keys: which other origins' pages may call this backend
// from a browser (a Backstage frontend on its own origin). Without origins, none may.
type CORS struct {
	// Origin is one origin or a list (https://portal.example.com); "*" is refused, since
	// credentials would then go to any site.
	Origin Origins `yaml:"origin"`
	// Methods are the methods allowed (default GET, HEAD, PATCH, POST, PUT, DELETE).
	Methods []string `yaml:"methods"`
	// Credentials lets those pages send cookies and Authorization (Backstage's frontend
	// needs it for sign-in).
	Credentials bool `yaml:"credentials"`
}

// Origins is an origin or a list of them.
type Origins = config.OneOrMany[string]

// SetDefaults allows Backstage's default methods.
func (c *CORS) SetDefaults() {
	c.Methods = []string{http.MethodGet, http.MethodHead, http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodDelete}
}

// Validate requires origins (scheme and host) and known methods.
func (c CORS) Validate() error {
	for i, o := range c.Origin {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return config.Fieldf(fmt.Sprintf("origin[%d]", i), "must be an origin such as https://portal.example.com (no path, no *), got %q", o)
		}
	}
	for i, m := range c.Methods {
		if m != strings.ToUpper(m) || m == "" || strings.ContainsAny(m, " ,") {
			return config.Fieldf(fmt.Sprintf("methods[%d]", i), "must be an HTTP method in capitals such as GET, got %q", m)
		}
	}
	return nil
}

// corsMaxAge is how long a browser may keep a preflight's answer.
const corsMaxAge = 600

// wrap answers the preflights of allowed origins and marks the responses to them; requests
// of other origins are served unmarked, so that their browsers refuse to show the answer.
func (c CORS) wrap(next http.Handler) http.Handler {
	if len(c.Origin) == 0 {
		return next
	}
	allowed := map[string]bool{}
	for _, o := range c.Origin {
		allowed[strings.TrimSuffix(o, "/")] = true
	}
	methods := strings.Join(c.Methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if !allowed[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if c.Credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !slices.Contains(c.Methods, r.Header.Get("Access-Control-Request-Method")) {
				WriteError(w, r, Errorf(http.StatusForbidden, "method %s is not allowed from %s: see backend.cors.methods", r.Header.Get("Access-Control-Request-Method"), origin))
				return
			}
			h.Set("Access-Control-Allow-Methods", methods)
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
