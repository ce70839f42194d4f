package report

import (
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
)

// Series is one line of a chart: a scenario's runs, by participants.
type Series struct {
	Name   string
	Points []Point
}

// Point is one run on a chart; a run that failed the capacity criteria is
// drawn hollow.
type Point struct {
	X, Y   float64
	Failed bool
}

// Panel is one chart of the figure: a title, axis names, its series and
// an optional horizontal target line.
type Panel struct {
	Title  string
	XLabel string
	YLabel string
	Series []Series
	Target float64 // drawn dashed when above zero
	TLabel string
	// Cap, when above zero, ends the y axis: larger values are drawn on
	// the top edge, so that a collapse does not squash the region around
	// the target.
	Cap float64
}

// palette holds the series colours, readable on white and told apart in
// grey scale too.
func palette(i int) color.RGBA {
	cols := [...]color.RGBA{
		{0x1f, 0x4e, 0x9c, 0xff}, // blue
		{0xd9, 0x5f, 0x02, 0xff}, // orange
		{0x1b, 0x9e, 0x77, 0xff}, // green
		{0x75, 0x2f, 0x8f, 0xff}, // purple
		{0xc0, 0x1f, 0x3c, 0xff}, // red
		{0x66, 0x66, 0x66, 0xff}, // grey
		{0x8c, 0x6d, 0x1f, 0xff}, // brown
	}
	return cols[i%len(cols)]
}

// Figure layout, in pixels.
const (
	figWidth    = 960
	panelHeight = 360
	marginLeft  = 90
	marginRight = 230 // the legend
	marginTop   = 40
	marginBot   = 56
)

// WriteChart draws panels one above the other as a PNG.
func WriteChart(w io.Writer, panels []Panel) error {
	c := newCanvas(figWidth, panelHeight*len(panels))
	for i, p := range panels {
		drawPanel(c, p, i*panelHeight)
	}
	return png.Encode(w, c.img)
}

func drawPanel(c *canvas, p Panel, top int) {
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grid := color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	x0, x1 := marginLeft, figWidth-marginRight
	y0, y1 := top+panelHeight-marginBot, top+marginTop // y0 is the bottom
	c.text(x0, top+12, p.Title, 2, black)
	c.text(x1+20, y0-10, "HOLLOW: FAILED", 1, black)

	xmax, ymax := 0.0, p.Target
	capped := false
	for _, s := range p.Series {
		for _, pt := range s.Points {
			xmax, ymax = math.Max(xmax, pt.X), math.Max(ymax, pt.Y)
		}
	}
	if p.Cap > 0 && ymax > p.Cap {
		ymax, capped = p.Cap, true
	}
	xstep, xtop := niceAxis(xmax)
	ystep, ytop := niceAxis(ymax * 1.1)
	if capped {
		ystep, ytop = niceAxis(p.Cap)
		c.text(x1+20, y0-24, "TOP EDGE: OFF SCALE", 1, black)
	}
	px := func(x float64) int { return x0 + int(math.Round(x/xtop*float64(x1-x0))) }
	py := func(y float64) int { return y0 - int(math.Round(math.Min(y, ytop)/ytop*float64(y0-y1))) }

	// Grid, ticks and their labels.
	for v := 0.0; v <= ytop+ystep/2; v += ystep {
		y := py(v)
		c.line(x0, y, x1, y, 1, grid)
		l := label(v, ystep)
		c.text(x0-8-textWidth(l, 1), y-3, l, 1, black)
	}
	for v := 0.0; v <= xtop+xstep/2; v += xstep {
		x := px(v)
		c.line(x, y0, x, y0+5, 1, black)
		l := label(v, xstep)
		c.text(x-textWidth(l, 1)/2, y0+10, l, 1, black)
	}
	c.line(x0, y0, x1, y0, 2, black)
	c.line(x0, y0, x0, y1, 2, black)
	c.text((x0+x1)/2-textWidth(p.XLabel, 1)/2, y0+30, p.XLabel, 1, black)
	c.vtext(x0-70, (y0+y1)/2+textWidth(p.YLabel, 1)/2, p.YLabel, 1, black)

	if p.Target > 0 {
		y := py(p.Target)
		red := color.RGBA{0xc0, 0x1f, 0x3c, 0xff}
		c.dashed(x0, x1, y, red)
		c.dashed(x0, x1, y+1, red)
		c.text(x1-textWidth(p.TLabel, 1), y-12, p.TLabel, 1, red)
	}

	// The series, and the legend to the right.
	ly := y1
	for i, s := range p.Series {
		col := palette(i)
		for j, pt := range s.Points {
			if j > 0 {
				prev := s.Points[j-1]
				c.line(px(prev.X), py(prev.Y), px(pt.X), py(pt.Y), 2, col)
			}
		}
		for _, pt := range s.Points {
			c.dot(px(pt.X), py(pt.Y), 5, col)
			if pt.Failed {
				c.dot(px(pt.X), py(pt.Y), 3, color.RGBA{0xff, 0xff, 0xff, 0xff})
			}
		}
		c.dot(x1+24, ly+3, 4, col)
		c.text(x1+34, ly, s.Name, 1, black)
		ly += 16
	}
}

// niceAxis picks a tick step of 1, 2 or 5 times a power of ten giving
// about five ticks up to max, and the axis end.
func niceAxis(max float64) (step, top float64) {
	if !(max > 0) || math.IsInf(max, 0) {
		return 1, 1
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return step, math.Ceil(max/step) * step
}

// label formats a tick value with as many decimals as the step needs.
func label(v, step float64) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if dec == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return fmt.Sprintf("%.*f", dec, v)
}
