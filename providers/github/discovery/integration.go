package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/internal/background"
)

// Integration is one entry of integrations.github: a GitHub or GitHub Enterprise host and how
// to reach its API.
type Integration struct {
	// Host is the web host, e.g. github.com or ghe.example.com.
	Host string `yaml:"host"`
	// APIBaseURL defaults to https://api.github.com for github.com and https://<host>/api/v3
	// otherwise.
	APIBaseURL string `yaml:"apiBaseUrl"`
	// RawBaseURL, when set, is where files are read (<rawBaseUrl>/<owner>/<repo>/<ref>/<path>);
	// otherwise they are read through the API's contents endpoint.
	RawBaseURL string `yaml:"rawBaseUrl"`
	// Token authenticates to the API (a personal access or app installation token).
	Token config.Secret `yaml:"token"`
}

// Integrations is integrations.github. Without entries, github.com is reachable anonymously.
type Integrations []Integration

// Validate checks hosts and URLs.
func (is Integrations) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, in := range is {
		key := fmt.Sprintf("[%d]", i)
		if in.Host == "" || strings.ContainsAny(in.Host, "/:") {
			errs = append(errs, config.Fieldf(key+".host", "must be a host name such as github.com, got %q", in.Host))
		}
		if seen[strings.ToLower(in.Host)] {
			errs = append(errs, config.Fieldf(key+".host", "%s is listed twice", in.Host))
		}
		seen[strings.ToLower(in.Host)] = true
		for name, u := range map[string]string{"apiBaseUrl": in.APIBaseURL, "rawBaseUrl": in.RawBaseURL} {
			if u == "" {
				continue
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				errs = append(errs, config.Fieldf(key+"."+name, "must be an http(s) URL, got %q", u))
			}
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills in the API base URL.
func (in Integration) withDefaults() Integration {
	if in.APIBaseURL == "" {
		if strings.EqualFold(in.Host, "github.com") {
			in.APIBaseURL = "https://api.github.com"
		} else {
			in.APIBaseURL = "https://" + in.Host + "/api/v3"
		}
	}
	in.APIBaseURL = strings.TrimSuffix(in.APIBaseURL, "/")
	in.RawBaseURL = strings.TrimSuffix(in.RawBaseURL, "/")
	return in
}

// find returns the integration of a host.
func (is Integrations) find(host string) (Integration, bool) {
	for _, in := range is {
		if strings.EqualFold(in.Host, host) {
			return in.withDefaults(), true
		}
	}
	if len(is) == 0 && strings.EqualFold(host, "github.com") {
		return Integration{Host: "github.com"}.withDefaults(), true
	}
	return Integration{}, false
}

// maxRateLimitWait bounds how long a request waits for GitHub's rate limit to reset.
const maxRateLimitWait = time.Minute

// client calls one GitHub host's REST API.
type client struct {
	in   Integration
	http *http.Client
}

func newClient(in Integration) *client {
	return &client{in: in, http: &http.Client{Timeout: 30 * time.Second}}
}

// errNotFound is a 404 from GitHub.
var errNotFound = errors.New("not found on GitHub")

// get performs an authenticated GET, waiting for a rate limit to reset (up to a minute)
// before trying once more.
func (c *client) get(ctx context.Context, u, accept string) ([]byte, http.Header, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		if c.in.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.in.Token.Value())
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("GitHub %s: %w", c.in.Host, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 20<<20))
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("GitHub %s: %w", c.in.Host, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return body, resp.Header, nil
		case resp.StatusCode == http.StatusNotFound:
			return nil, resp.Header, errNotFound
		case (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) && attempt == 0:
			wait, limited := rateLimitWait(resp.Header, time.Now())
			if !limited {
				break
			}
			if wait > maxRateLimitWait {
				return nil, nil, fmt.Errorf("GitHub %s rate limit: resets in %s", c.in.Host, wait.Round(time.Second))
			}
			if err := background.Sleep(ctx, wait); err != nil {
				return nil, nil, err
			}
			continue
		}
		return nil, nil, fmt.Errorf("GitHub %s: %s answered %d", c.in.Host, req.URL.Path, resp.StatusCode)
	}
}

// rateLimitWait reads Retry-After, or X-RateLimit-Remaining: 0 with X-RateLimit-Reset.
func rateLimitWait(h http.Header, now time.Time) (time.Duration, bool) {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil {
		return time.Duration(s) * time.Second, true
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Until(time.Unix(reset, 0)), 0) + time.Second, true
		}
	}
	return 0, false
}

// repository is what the provider needs of a repository.
type repository struct {
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
	Archived      bool   `json:"archived"`
	Owner         struct {
		Login string `json:"login"`
	} `json:"owner"`
}

var linkNext = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// listRepos lists an organization's repositories.
func (c *client) listRepos(ctx context.Context, org string) ([]repository, error) {
	out, err := listAll[repository](ctx, c, c.in.APIBaseURL+"/orgs/"+url.PathEscape(org)+"/repos?per_page=100&type=all")
	if err != nil {
		return nil, fmt.Errorf("list repositories of %s: %w", org, err)
	}
	return out, nil
}

// listAll reads every page of a list endpoint, following the Link header's next URL.
func listAll[T any](ctx context.Context, c *client, u string) ([]T, error) {
	var out []T
	for next := u; next != ""; {
		body, h, err := c.get(ctx, next, "application/vnd.github+json")
		if err != nil {
			return nil, err
		}
		var page []T
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		out = append(out, page...)
		next = ""
		if m := linkNext.FindStringSubmatch(h.Get("Link")); m != nil {
			next = m[1]
		}
	}
	return out, nil
}

// account is a user as GitHub's member lists give it.
type account struct {
	Login string `json:"login"`
}

// user is what the organization provider needs of GET /users/{login}. Name and Email are
// empty when the user has set none or keeps the address private.
type user struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	AvatarURL string `json:"avatar_url"`
}

// team is what the organization provider needs of a team.
type team struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Parent      *struct {
		Slug string `json:"slug"`
	} `json:"parent"`
}

// parentSlug is the slug of the team's parent, or "".
func (t team) parentSlug() string {
	if t.Parent == nil {
		return ""
	}
	return t.Parent.Slug
}

// orgMembers lists an organization's members.
func (c *client) orgMembers(ctx context.Context, org string) ([]account, error) {
	out, err := listAll[account](ctx, c, c.in.APIBaseURL+"/orgs/"+url.PathEscape(org)+"/members?per_page=100")
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", org, err)
	}
	return out, nil
}

// user returns a user's profile; errNotFound when the account is gone.
func (c *client) user(ctx context.Context, login string) (user, error) {
	body, _, err := c.get(ctx, c.in.APIBaseURL+"/users/"+url.PathEscape(login), "application/vnd.github+json")
	if err != nil {
		return user{}, fmt.Errorf("get user %s: %w", login, err)
	}
	var u user
	if err := json.Unmarshal(body, &u); err != nil {
		return user{}, fmt.Errorf("get user %s: %w", login, err)
	}
	return u, nil
}

// orgTeams lists an organization's teams (those the token can see).
func (c *client) orgTeams(ctx context.Context, org string) ([]team, error) {
	out, err := listAll[team](ctx, c, c.in.APIBaseURL+"/orgs/"+url.PathEscape(org)+"/teams?per_page=100")
	if err != nil {
		return nil, fmt.Errorf("list teams of %s: %w", org, err)
	}
	return out, nil
}

// teamMembers lists a team's members. GitHub includes the members of its child teams.
func (c *client) teamMembers(ctx context.Context, org, slug string) ([]account, error) {
	out, err := listAll[account](ctx, c, c.in.APIBaseURL+"/orgs/"+url.PathEscape(org)+"/teams/"+url.PathEscape(slug)+"/members?per_page=100")
	if err != nil {
		return nil, fmt.Errorf("list members of team %s/%s: %w", org, slug, err)
	}
	return out, nil
}

// readFile returns a file of a repository at ref; errNotFound when there is none.
func (c *client) readFile(ctx context.Context, owner, repo, ref, path string) ([]byte, error) {
	path = strings.TrimPrefix(path, "/")
	if c.in.RawBaseURL != "" {
		body, _, err := c.get(ctx, c.in.RawBaseURL+"/"+url.PathEscape(owner)+"/"+url.PathEscape(repo)+"/"+url.PathEscape(ref)+"/"+escapePath(path), "*/*")
		return body, err
	}
	body, _, err := c.get(ctx, c.in.APIBaseURL+"/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(repo)+"/contents/"+escapePath(path)+"?ref="+url.QueryEscape(ref),
		"application/vnd.github.raw+json")
	return body, err
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// fileURL is the web URL of a file: <html_url>/blob/<ref>/<path>.
func fileURL(htmlURL, ref, path string) string {
	return strings.TrimSuffix(htmlURL, "/") + "/blob/" + ref + "/" + strings.TrimPrefix(path, "/")
}

// parsedURL is a file URL taken apart: https://<host>/<owner>/<repo>/(blob|tree)/<ref>/<path>.
type parsedURL struct {
	host, owner, repo, ref, path string
}

func parseFileURL(s string) (parsedURL, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return parsedURL{}, false
	}
	parts := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 5)
	if len(parts) < 5 || (parts[2] != "blob" && parts[2] != "tree") || parts[4] == "" {
		return parsedURL{}, false
	}
	return parsedURL{host: u.Host, owner: parts[0], repo: parts[1], ref: parts[3], path: parts[4]}, true
}
