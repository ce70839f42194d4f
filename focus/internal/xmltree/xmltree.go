// Package xmltree writes the small XML documents of the Focus (C3P
// requests and responses, conference-info): a document is built as a tree
// and written in one go, indented, in a fixed order, so the output is
// byte-for-byte stable, which the golden files rely on.
package xmltree

import (
	"bytes"
	"encoding/xml"
)

// Node is an element to be written.
type Node struct {
	Name  string
	Attrs [][2]string
	Text  string
	Kids  []*Node
	// Fragment, when set, writes an element another package renders (a
	// conference-info document inside a C3P response) at the given prefix
	// and depth, in place of this node.
	Fragment func(prefix string, depth int) []byte
}

// El is an element with children (nil children are left out).
func El(name string, kids ...*Node) *Node { return (&Node{Name: name}).Add(kids...) }

// Leaf is an element with text; empty text gives no element (nil).
func Leaf(name, text string) *Node {
	if text == "" {
		return nil
	}
	return &Node{Name: name, Text: text}
}

// Attr adds an attribute unless its value is empty.
func (n *Node) Attr(name, value string) *Node {
	if value != "" {
		n.Attrs = append(n.Attrs, [2]string{name, value})
	}
	return n
}

// Add appends the children that are not nil.
func (n *Node) Add(kids ...*Node) *Node {
	for _, k := range kids {
		if k != nil {
			n.Kids = append(n.Kids, k)
		}
	}
	return n
}

// Write writes n at depth (two spaces each), every line prefixed by prefix.
func (n *Node) Write(b *bytes.Buffer, prefix string, depth int) {
	if n.Fragment != nil {
		b.Write(n.Fragment(prefix, depth))
		return
	}
	indent(b, prefix, depth)
	b.WriteByte('<')
	b.WriteString(n.Name)
	for _, a := range n.Attrs {
		b.WriteByte(' ')
		b.WriteString(a[0])
		b.WriteString(`="`)
		_ = xml.EscapeText(b, []byte(a[1]))
		b.WriteByte('"')
	}
	switch {
	case len(n.Kids) == 0 && n.Text == "":
		b.WriteString("/>\n")
		return
	case len(n.Kids) == 0:
		b.WriteByte('>')
		_ = xml.EscapeText(b, []byte(n.Text))
	default:
		b.WriteString(">\n")
		for _, k := range n.Kids {
			k.Write(b, prefix, depth+1)
		}
		indent(b, prefix, depth)
	}
	b.WriteString("</")
	b.WriteString(n.Name)
	b.WriteString(">\n")
}

func indent(b *bytes.Buffer, prefix string, depth int) {
	b.WriteString(prefix)
	for range depth {
		b.WriteString("  ")
	}
}
