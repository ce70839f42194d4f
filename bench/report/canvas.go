package report

import (
	"image"
	"image/color"
	"image/draw"
)

// canvas draws lines, dots and text on an RGBA image, enough for a
// scatter chart without a plotting library.
type canvas struct {
	img *image.RGBA
}

func newCanvas(w, h int) *canvas {
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h))}
	draw.Draw(c.img, c.img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	return c
}

func (c *canvas) set(x, y int, col color.RGBA) {
	if (image.Point{x, y}).In(c.img.Rect) {
		c.img.SetRGBA(x, y, col)
	}
}

// rect fills the rectangle from (x0, y0) to (x1, y1), inclusive.
func (c *canvas) rect(x0, y0, x1, y1 int, col color.RGBA) {
	for y := min(y0, y1); y <= max(y0, y1); y++ {
		for x := min(x0, x1); x <= max(x0, x1); x++ {
			c.set(x, y, col)
		}
	}
}

// line draws a line of the given width (Bresenham, with a square pen).
func (c *canvas) line(x0, y0, x1, y1, width int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	h := width / 2
	for {
		c.rect(x0-h, y0-h, x0-h+width-1, y0-h+width-1, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * err; e2 >= dy {
			err += dy
			x0 += sx
		} else {
			err += dx
			y0 += sy
		}
	}
}

// dashed draws a horizontal dashed line.
func (c *canvas) dashed(x0, x1, y int, col color.RGBA) {
	for x := x0; x <= x1; x++ {
		if (x-x0)%8 < 5 {
			c.set(x, y, col)
		}
	}
}

// dot draws a filled disc.
func (c *canvas) dot(cx, cy, r int, col color.RGBA) {
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			if x*x+y*y <= r*r+r {
				c.set(cx+x, cy+y, col)
			}
		}
	}
}

// text writes s with its top-left corner at (x, y), each font pixel drawn
// as scale×scale pixels; it returns the width drawn.
func (c *canvas) text(x, y int, s string, scale int, col color.RGBA) int {
	cx := x
	for _, r := range s {
		g := glyph(r)
		for row, bits := range g {
			for i := range 5 {
				if bits&(1<<(4-i)) != 0 {
					c.rect(cx+i*scale, y+row*scale, cx+(i+1)*scale-1, y+(row+1)*scale-1, col)
				}
			}
		}
		cx += 6 * scale
	}
	return cx - x
}

// textWidth is how wide text would draw s.
func textWidth(s string, scale int) int { return 6 * scale * len([]rune(s)) }

// vtext writes s upwards (rotated a quarter turn counter-clockwise), with
// its bottom-left corner at (x, y).
func (c *canvas) vtext(x, y int, s string, scale int, col color.RGBA) {
	cy := y
	for _, r := range s {
		g := glyph(r)
		for row, bits := range g {
			for i := range 5 {
				if bits&(1<<(4-i)) != 0 {
					// font (i, row) -> image (x+row, cy-i)
					c.rect(x+row*scale, cy-(i+1)*scale+1, x+(row+1)*scale-1, cy-i*scale, col)
				}
			}
		}
		cy -= 6 * scale
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
