package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/stagebus/stagebus/catalog"
)

// Analyzer finds the catalog files of GitHub repositories on the hosts of
// integrations.github, for the catalog's POST /analyze-location. It lists the repository's
// tree on its default branch (Backstage's analyzer uses code search instead, which needs a
// search index and ignores the file name asked for).
type Analyzer struct {
	integrations Integrations
}

var _ catalog.Analyzer = Analyzer{}

// NewAnalyzer returns the analyzer of the configured integrations.
func NewAnalyzer(is Integrations) Analyzer { return Analyzer{integrations: is} }

// repoOf parses https://<host>/<owner>/<repo>[/…] into the integration and the repository.
func (a Analyzer) repoOf(repoURL string) (in Integration, owner, repo string, ok bool) {
	u, err := url.Parse(repoURL)
	if err != nil || u.Host == "" {
		return Integration{}, "", "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return Integration{}, "", "", false
	}
	in, ok = a.integrations.find(u.Host)
	return in, parts[0], strings.TrimSuffix(parts[1], ".git"), ok
}

// Supports reports whether the URL is a repository on a configured host.
func (a Analyzer) Supports(repoURL string) bool {
	_, _, _, ok := a.repoOf(repoURL)
	return ok
}

// Analyze returns the URLs of the repository's files named filename on its default branch,
// and the github.com/project-slug annotation of an entity generated for it.
func (a Analyzer) Analyze(ctx context.Context, repoURL, filename string) ([]string, map[string]string, error) {
	in, owner, name, ok := a.repoOf(repoURL)
	if !ok {
		return nil, nil, fmt.Errorf("%s is not a repository on a host of integrations.github", repoURL)
	}
	c := newClient(in)
	base := in.APIBaseURL + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
	body, _, err := c.get(ctx, base, "application/vnd.github+json")
	if err != nil {
		return nil, nil, fmt.Errorf("read repository %s/%s: %w", owner, name, err)
	}
	var r repository
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("read repository %s/%s: %w", owner, name, err)
	}
	body, _, err = c.get(ctx, base+"/git/trees/"+url.PathEscape(r.DefaultBranch)+"?recursive=1", "application/vnd.github+json")
	if err != nil {
		return nil, nil, fmt.Errorf("list the files of %s/%s: %w", owner, name, err)
	}
	var tree struct {
		Tree []struct {
			Path string `json:"path"`
			Type string `json:"type"`
		} `json:"tree"`
	}
	if err := json.Unmarshal(body, &tree); err != nil {
		return nil, nil, fmt.Errorf("list the files of %s/%s: %w", owner, name, err)
	}
	var files []string
	for _, f := range tree.Tree {
		if f.Type == "blob" && path.Base(f.Path) == filename {
			files = append(files, fileURL(r.HTMLURL, r.DefaultBranch, f.Path))
		}
	}
	sort.Strings(files)
	return files, map[string]string{"github.com/project-slug": owner + "/" + name}, nil
}
