package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"go.uber.org/fx"
)

// DefaultCatalogFilename is the catalog file POST /analyze-location looks for.
const DefaultCatalogFilename = "catalog-info.yaml"

// Analyzer finds the catalog files of a repository for POST /analyze-location;
// providers/github/discovery contributes one for the hosts of integrations.github.
type Analyzer interface {
	// Supports reports whether the analyzer knows the repository URL's host.
	Supports(repoURL string) bool
	// Analyze returns the URLs (…/blob/<default branch>/<path>) of the repository's files
	// named filename, and the annotations an entity generated for the repository carries
	// (github.com/project-slug: owner/repo).
	Analyze(ctx context.Context, repoURL, filename string) (files []string, annotations map[string]string, err error)
}

// AsAnalyzer annotates a constructor returning an Analyzer so that it joins the
// "catalog.analyzers" group.
func AsAnalyzer(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"catalog.analyzers"`))
}

// Errors of POST /analyze-location's input.
var (
	// ErrNotURL reports an analyzed location target that is not an http(s) URL.
	ErrNotURL = errors.New("the given location.target is not a URL")
	// ErrCatalogFilename reports a catalog file name that is not a YAML file's name.
	ErrCatalogFilename = errors.New("catalogFilename must be the name of a .yaml or .yml file, without a folder")
)

// maxAnalyzedFiles bounds the catalog files one analysis reads.
const maxAnalyzedFiles = 20

// Analysis is the answer of POST /analyze-location, Backstage's shape: the entities of the
// catalog files the repository has, or, when it has none, an entity to generate for it.
type Analysis struct {
	ExistingEntityFiles []AnalyzedFile    `json:"existingEntityFiles"`
	GenerateEntities    []GeneratedEntity `json:"generateEntities"`
}

// AnalyzedFile is one entity of an existing catalog file.
type AnalyzedFile struct {
	Location     Location `json:"location"`
	IsRegistered bool     `json:"isRegistered"`
	Entity       Entity   `json:"entity"`
}

// GeneratedEntity is an entity proposed for a repository without a catalog file, and the
// fields a person should fill in (none: Stagebus suggests no values).
type GeneratedEntity struct {
	Entity Entity `json:"entity"`
	Fields []any  `json:"fields"`
}

// Analyze looks for catalog files named filename (a .yaml or .yml name) in the repository at
// repoURL, through the first analyzer that supports it: each file, up to 20, is read as a dry
// run (its Location entity first), and reported with whether it is registered. Without files (or an analyzer), a
// Component named after the repository is proposed.
func (l *Locations) Analyze(ctx context.Context, repoURL, filename string) (Analysis, error) {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Analysis{}, fmt.Errorf("%w: %q", ErrNotURL, repoURL)
	}
	if ext := path.Ext(filename); (ext != ".yaml" && ext != ".yml") || strings.ContainsAny(filename, `/\`) {
		return Analysis{}, fmt.Errorf("%w, got %q", ErrCatalogFilename, filename)
	}
	out := Analysis{ExistingEntityFiles: []AnalyzedFile{}, GenerateEntities: []GeneratedEntity{}}
	var annotations map[string]string
	for _, a := range l.analyzers {
		if !a.Supports(repoURL) {
			continue
		}
		var files []string
		if files, annotations, err = a.Analyze(ctx, repoURL, filename); err != nil {
			return Analysis{}, fmt.Errorf("%w: %w", ErrUnreadable, err)
		}
		if len(files) > maxAnalyzedFiles {
			l.log.Warn().Str("repository", repoURL).Int("files", len(files)).Msgf("analyzed only the first %d catalog files", maxAnalyzedFiles)
			files = files[:maxAnalyzedFiles]
		}
		for _, f := range files {
			p, err := l.Check(ctx, LocationURL, f)
			if err != nil {
				return Analysis{}, err
			}
			for _, e := range p.Entities {
				out.ExistingEntityFiles = append(out.ExistingEntityFiles, AnalyzedFile{
					Location: Location{Type: LocationURL, Target: f}, IsRegistered: p.Exists, Entity: e})
			}
		}
		break
	}
	if len(out.ExistingEntityFiles) > 0 {
		return out, nil
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	name := strings.TrimSuffix(parts[min(1, len(parts)-1)], ".git")
	out.GenerateEntities = append(out.GenerateEntities, GeneratedEntity{
		Entity: Entity{
			APIVersion: "backstage.io/v1alpha1", Kind: "Component",
			Metadata: Metadata{Name: name, Annotations: annotations},
			Spec:     map[string]any{"type": "other", "lifecycle": "unknown"},
		},
		Fields: []any{},
	})
	return out, nil
}
