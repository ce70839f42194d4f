package confinfo

import "confab/focus/internal/xmltree"

// node, el and leaf are short names for the XML tree the encoder builds.
type node = xmltree.Node

func el(name string, kids ...*node) *node { return xmltree.El(name, kids...) }
func leaf(name, text string) *node        { return xmltree.Leaf(name, text) }
