package i18n

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with the message files, located by source, file, line and id.
// Fields that do not apply are empty (Line is 0 when the problem is an id's absence).
type Problem struct {
	Source  string // the Source's Name, or "source N" (its index) when it has none
	File    string // en.yaml or de.yaml
	Line    int
	ID      string // the message id
	Message string
}

// Error formats the problem as "source: file:line: id: message".
func (p Problem) Error() string {
	var parts []string
	if p.Source != "" {
		parts = append(parts, p.Source)
	}
	if p.File != "" {
		f := p.File
		if p.Line > 0 {
			f += ":" + strconv.Itoa(p.Line)
		}
		parts = append(parts, f)
	}
	if p.ID != "" {
		parts = append(parts, p.ID)
	}
	return strings.Join(append(parts, p.Message), ": ")
}

// Problems is every problem found by one NewCatalog or CheckSource call, source by source in
// the order given, each source's in file and line order.
type Problems []Problem

// Error lists every problem, one a line.
func (ps Problems) Error() string {
	if len(ps) == 1 {
		return "invalid messages: " + ps[0].Error()
	}
	lines := make([]string, 0, len(ps)+1)
	lines = append(lines, fmt.Sprintf("invalid messages (%d problems):", len(ps)))
	for _, p := range ps {
		lines = append(lines, "  "+p.Error())
	}
	return strings.Join(lines, "\n")
}
