package catalogpage

import (
	"fmt"
	"strings"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/console"
)

// Graph geometry, in SVG user units: three columns of nodes (the entities that name this
// one, this one, those it names) with room for the edges' labels between them.
const (
	graphWidth = 1100
	nodeW      = 200
	nodeH      = 30
	rowH       = 40
	padY       = 12
	leftX      = 8
	selfX      = (graphWidth - nodeW) / 2
	rightX     = graphWidth - leftX - nodeW
	// bend is how far from this entity's node an edge turns into its row.
	bend = 50
	// maxSide bounds the nodes drawn on each side; the list has them all.
	maxSide = 30
	// nodeText bounds the characters of a node's text.
	nodeText = 28
)

// graph is an entity's relations drawn as SVG by the template: this entity in the middle,
// on the right the entities its spec names (edges from it, labelled with its relation), on
// the left the entities whose specs name it (edges to it, labelled with their relation).
// The layout depends on the relations alone: the same entity is drawn the same way.
type graph struct {
	Width, Height int
	Self          node
	Nodes         []node
	Edges         []edge
	Notes         []note
}

// node is a box with a text; Href and Aria make it a link.
type node struct {
	X, Y, W, H   int
	TextX, TextY int
	Text         string
	Href, Aria   string
}

// edge is a path with its label, written at LX, LY anchored at Anchor (start or end).
type edge struct {
	D             string
	LX, LY        int
	Anchor, Label string
}

// note is the "and N more" of a side with more than maxSide entities.
type note struct {
	X, Y int
	Text string
}

// graphRel is one entity drawn beside this one.
type graphRel struct {
	Ref, Href string
	Edge      string // the edge's label
	Aria      string // the node's accessible name
}

// entityGraph draws e's relations. The store gives an entity its own relations and the
// inverses of those that others declare towards it; catalog.DeclaredRelations tells which
// are its own.
func entityGraph(v *console.View, e catalog.Entity, label func(string) string) (*graph, error) {
	if len(e.Relations) == 0 {
		return nil, nil
	}
	declared := map[catalog.Relation]bool{}
	for _, r := range catalog.DeclaredRelations(e) {
		declared[r] = true
	}
	var right, left []graphRel
	for _, r := range e.Relations {
		aria, err := v.T("catalog.graph_node", "Relation", label(r.Type), "Ref", r.TargetRef)
		if err != nil {
			return nil, err
		}
		g := graphRel{Ref: r.TargetRef, Href: refPath(r.TargetRef, "", catalog.DefaultNamespace), Aria: aria}
		if declared[r] {
			g.Edge = label(r.Type)
			right = append(right, g)
			continue
		}
		// The target declared the inverse relation towards e: draw it as the target sees it.
		typ := catalog.InverseRelation(r.Type)
		if typ == "" {
			typ = r.Type
		}
		g.Edge = label(typ)
		left = append(left, g)
	}
	more := func(n int) (string, error) { return v.T("catalog.graph_more", "Count", n) }
	return layout(e.Ref().String(), left, right, more)
}

// layout places self in the middle, left and right beside it (at most maxSide each, in the
// order given), each side centred on self.
func layout(self string, left, right []graphRel, more func(int) (string, error)) (*graph, error) {
	slots := func(rels []graphRel) int {
		if len(rels) > maxSide {
			return maxSide + 1
		}
		return len(rels)
	}
	rows := max(slots(left), slots(right), 1)
	g := &graph{Width: graphWidth, Height: 2*padY + rows*rowH}
	cy := g.Height / 2
	g.Self = box(selfX, cy, self, "", "")
	side := func(rels []graphRel, x int, toRight bool) error {
		n := slots(rels)
		top := (g.Height - n*rowH) / 2
		for i, r := range rels {
			y := top + i*rowH + rowH/2
			if i == maxSide {
				text, err := more(len(rels) - maxSide)
				if err != nil {
					return err
				}
				g.Notes = append(g.Notes, note{X: x + 10, Y: y + 4, Text: text})
				return nil
			}
			g.Nodes = append(g.Nodes, box(x, y, r.Ref, r.Href, r.Aria))
			if toRight {
				// From this entity's right side, turning into the row, to the node.
				x1 := selfX + nodeW
				g.Edges = append(g.Edges, edge{
					D:  fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d L%d,%d", x1, cy, x1+bend/2, cy, x1+bend/2, y, x1+bend, y, x, y),
					LX: x - 16, LY: y - 5, Anchor: "end", Label: r.Edge,
				})
			} else {
				// From the node, along its row, turning into this entity's left side.
				x1, x2 := x+nodeW, selfX
				g.Edges = append(g.Edges, edge{
					D:  fmt.Sprintf("M%d,%d L%d,%d C%d,%d %d,%d %d,%d", x1, y, x2-bend, y, x2-bend/2, y, x2-bend/2, cy, x2, cy),
					LX: x1 + 6, LY: y - 5, Anchor: "start", Label: r.Edge,
				})
			}
		}
		return nil
	}
	if err := side(left, leftX, false); err != nil {
		return nil, err
	}
	if err := side(right, rightX, true); err != nil {
		return nil, err
	}
	return g, nil
}

// box is a node centred vertically on y.
func box(x, y int, ref, href, aria string) node {
	return node{X: x, Y: y - nodeH/2, W: nodeW, H: nodeH, TextX: x + 10, TextY: y + 4, Text: shortRef(ref), Href: href, Aria: aria}
}

// shortRef is a ref as a node shows it: without the default namespace, cut to nodeText
// characters.
func shortRef(ref string) string {
	if kind, rest, ok := strings.Cut(ref, ":"); ok {
		if name, ok := strings.CutPrefix(rest, catalog.DefaultNamespace+"/"); ok {
			ref = kind + ":" + name
		}
	}
	if r := []rune(ref); len(r) > nodeText {
		return string(r[:nodeText-1]) + "…"
	}
	return ref
}
