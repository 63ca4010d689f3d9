package main

import (
	"encoding/base64"
	"fmt"
	"strings"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func decodeBase64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("cannot decode the password: %w", err)
	}
	return string(b), nil
}
