package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"
)

// tagPlaceholder is how a URL inside addURIAndSha names the tag.
const tagPlaceholder = "{{ .TagName }}"

// Render fills the template: TagName, and addURIAndSha "URL" .TagName,
// which writes the uri and the sha256 of the archive of that name in dist.
func Render(tmpl, tag, dist string) (string, error) {
	t, err := template.New("manifest").Funcs(template.FuncMap{
		"addURIAndSha": func(rawURL, tag string) (string, error) {
			u := strings.ReplaceAll(rawURL, tagPlaceholder, tag)
			parsed, err := url.Parse(u)
			if err != nil {
				return "", fmt.Errorf("bad archive URL %q: %w", u, err)
			}
			sum, err := sha256File(filepath.Join(dist, path.Base(parsed.Path)))
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("uri: %s\n    sha256: %s", u, sum), nil
		},
	}).Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("cannot parse the manifest template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, struct{ TagName string }{tag}); err != nil {
		return "", fmt.Errorf("cannot render the manifest: %w", err)
	}
	return b.String(), nil
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("cannot read the archive: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("cannot read the archive %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
