package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with the configuration, located by file, line and key path.
type Problem struct {
	Pos     Pos
	Path    string
	Message string
}

// Error formats the problem as "file:line: key.path: message".
func (p Problem) Error() string {
	var b strings.Builder
	if p.Pos.File != "" {
		b.WriteString(p.Pos.String())
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in one load, in file and line order.
type Problems []Problem

// Error lists every problem, one a line.
func (ps Problems) Error() string {
	lines := make([]string, 0, len(ps)+1)
	if len(ps) == 1 {
		return "invalid configuration: " + ps[0].Error()
	}
	lines = append(lines, fmt.Sprintf("invalid configuration (%d problems):", len(ps)))
	for _, p := range ps {
		lines = append(lines, "  "+p.Error())
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	out := append(Problems(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pos.File != out[j].Pos.File {
			return out[i].Pos.File < out[j].Pos.File
		}
		return out[i].Pos.Line < out[j].Pos.Line
	})
	return out
}

// suggest returns the candidate nearest to s by edit distance, when it is near enough to be a
// plausible typo (case differences count as near).
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := distance(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len(s)/3)
	if bestD <= limit {
		return best
	}
	return ""
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unknownKey builds the problem for a key no schema knows, with a suggestion when one is near.
func unknownKey(pos Pos, path, key string, known []string) Problem {
	msg := "unknown key"
	if s := suggest(key, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else if len(known) > 0 {
		sorted := append([]string(nil), known...)
		sort.Strings(sorted)
		msg += "; valid keys here: " + strings.Join(sorted, ", ")
	}
	return Problem{Pos: pos, Path: join(path, key), Message: msg}
}
