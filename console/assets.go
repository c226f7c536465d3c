package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/stagebus/stagebus/httpserver"
)

//go:embed assets
var assetFiles embed.FS

// asset is one embedded file, served under a name that carries its content's hash, so that
// browsers may keep it forever.
type asset struct {
	body        []byte
	contentType string
}

// assets are the console's static files: console.css, console.js, and images.
type assets struct {
	byHashed map[string]asset  // console.3f2a1b9c.css -> file
	hashed   map[string]string // console.css -> /assets/console.3f2a1b9c.css
}

func newAssets() (*assets, error) {
	a := &assets{byHashed: map[string]asset{}, hashed: map[string]string{}}
	err := fs.WalkDir(assetFiles, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assetFiles.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		ext := path.Ext(name)
		sum := sha256.Sum256(body)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a.byHashed[hashed] = asset{body: body, contentType: mime.TypeByExtension(ext)}
		a.hashed[name] = "/assets/" + hashed
		return nil
	})
	return a, err
}

// path returns the URL path of the asset called name; an unknown name is an error, which
// fails the page's render (and the test that renders every page).
func (a *assets) path(name string) (string, error) {
	p, ok := a.hashed[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return p, nil
}

// routes serve the assets to everyone: they are the same for every console.
func (a *assets) routes() []httpserver.Route {
	return []httpserver.Route{{Method: http.MethodGet, Path: "/assets/{name}", Auth: httpserver.Unauthenticated, Handler: http.HandlerFunc(a.serve)}}
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
	f, ok := a.byHashed[r.PathValue("name")]
	if !ok {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "no asset %q", r.PathValue("name")))
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(f.body)
}
