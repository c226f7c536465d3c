package ingress_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoProviderNamesInCode: the ingress knows no provider; what is provider-specific
// (headers, configuration keys, event names) comes from each Source. Comments may name
// providers as examples; string literals other than import paths may not.
func TestNoProviderNamesInCode(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		imports := map[*ast.BasicLit]bool{}
		for _, imp := range f.Imports {
			imports[imp.Path] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || imports[lit] {
				return true
			}
			for _, provider := range []string{"github", "gitlab", "bitbucket", "gitea", "forgejo", "gogs", "x-hub-"} {
				require.NotContains(t, strings.ToLower(lit.Value), provider, "%s: a provider-specific string", fset.Position(lit.Pos()))
			}
			return true
		})
	}
}
