package xmltree

import (
	"bytes"
	"testing"
)

func TestWrite(t *testing.T) {
	doc := El("a", Leaf("b", "x<y & \"z\""), Leaf("empty", ""), nil,
		El("c").Attr("k", `v"&<`).Attr("skipped", ""),
		&Node{Fragment: func(prefix string, depth int) []byte {
			return []byte(prefix + "<frag depth=\"" + string(rune('0'+depth)) + "\"/>\n")
		}},
	).Attr("xmlns", "urn:x")
	var b bytes.Buffer
	doc.Write(&b, "> ", 0)
	want := "> <a xmlns=\"urn:x\">\n" +
		">   <b>x&lt;y &amp; &#34;z&#34;</b>\n" +
		">   <c k=\"v&#34;&amp;&lt;\"/>\n" +
		"> <frag depth=\"1\"/>\n" +
		"> </a>\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
