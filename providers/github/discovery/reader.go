package discovery

import (
	"context"
	"fmt"

	"github.com/stagebus/stagebus/catalog"
)

// Reader reads catalog url locations on the hosts of integrations.github
// (https://<host>/<owner>/<repo>/blob/<ref>/<path>), so GitHub Enterprise and a test server
// work the same way as github.com.
type Reader struct {
	integrations Integrations
}

var _ catalog.Reader = Reader{}

// NewReader returns the reader of the configured integrations.
func NewReader(is Integrations) Reader { return Reader{integrations: is} }

// Reads reports whether the URL is a file on a configured host.
func (r Reader) Reads(target string) bool {
	u, ok := parseFileURL(target)
	if !ok {
		return false
	}
	_, ok = r.integrations.find(u.host)
	return ok
}

// Read fetches the file.
func (r Reader) Read(ctx context.Context, target string) ([]byte, error) {
	u, ok := parseFileURL(target)
	in, found := r.integrations.find(u.host)
	if !ok || !found {
		return nil, fmt.Errorf("%s is not a file on a host of integrations.github", target)
	}
	body, err := newClient(in).readFile(ctx, u.owner, u.repo, u.ref, u.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", target, err)
	}
	return body, nil
}
