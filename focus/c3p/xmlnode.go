package c3p

import (
	"bytes"
	"encoding/xml"
)

// node is an element to be written. Documents are small, so they are built
// as a tree and written in one go, indented, in a fixed order: the output is
// byte-for-byte stable, which the golden files rely on.
type node struct {
	name  string
	attrs [][2]string
	text  string
	kids  []*node
	// fragment writes an element another package renders (conference-info)
	// at the given prefix and depth, in place of this node.
	fragment func(prefix string, depth int) []byte
}

func el(name string, kids ...*node) *node { return &node{name: name, kids: kids} }

// leaf is an element with text; empty text gives no element.
func leaf(name, text string) *node {
	if text == "" {
		return nil
	}
	return &node{name: name, text: text}
}

// attr adds an attribute unless its value is empty.
func (n *node) attr(name, value string) *node {
	if value != "" {
		n.attrs = append(n.attrs, [2]string{name, value})
	}
	return n
}

// add appends the children that are not nil.
func (n *node) add(kids ...*node) *node {
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

// write writes n at depth, each line prefixed by prefix.
func (n *node) write(b *bytes.Buffer, prefix string, depth int) {
	if n.fragment != nil {
		b.Write(n.fragment(prefix, depth))
		return
	}
	b.WriteString(prefix)
	for range depth {
		b.WriteString("  ")
	}
	b.WriteByte('<')
	b.WriteString(n.name)
	for _, a := range n.attrs {
		b.WriteByte(' ')
		b.WriteString(a[0])
		b.WriteString(`="`)
		_ = xml.EscapeText(b, []byte(a[1]))
		b.WriteByte('"')
	}
	switch {
	case len(n.kids) == 0 && n.text == "":
		b.WriteString("/>\n")
		return
	case len(n.kids) == 0:
		b.WriteByte('>')
		_ = xml.EscapeText(b, []byte(n.text))
	default:
		b.WriteString(">\n")
		for _, k := range n.kids {
			k.write(b, prefix, depth+1)
		}
		b.WriteString(prefix)
		for range depth {
			b.WriteString("  ")
		}
	}
	b.WriteString("</")
	b.WriteString(n.name)
	b.WriteString(">\n")
}
