package plugin

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Colours of terminal output (ANSI); none when the output is no terminal.
const (
	colorNone   = ""
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
	colorRed    = "\x1b[31m"
	colorBold   = "\x1b[1m"
	colorReset  = "\x1b[0m"
)

// painter colours text when enabled.
type painter bool

func (p painter) paint(color, s string) string {
	if !p || color == colorNone || s == "" {
		return s
	}
	return color + s + colorReset
}

// cell is a table cell with its colour.
type cell struct {
	text, color string
}

// table writes rows in columns two spaces apart, measuring text without
// its colour codes; the last column is not padded.
func table(w io.Writer, p painter, header []string, rows [][]cell) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			if n := utf8.RuneCountInString(c.text); n > widths[i] {
				widths[i] = n
			}
		}
	}
	line := func(cells []cell) {
		var b strings.Builder
		for i, c := range cells {
			text := c.text
			b.WriteString(p.paint(c.color, text))
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(text)+2))
			}
		}
		io.WriteString(w, strings.TrimRight(b.String(), " ")+"\n")
	}
	hc := make([]cell, len(header))
	for i, h := range header {
		hc[i] = cell{h, colorBold}
	}
	line(hc)
	for _, r := range rows {
		line(r)
	}
}
