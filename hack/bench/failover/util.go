package main

import (
	"encoding/base64"
	"fmt"
	"strings"
)

func decodeBase64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("cannot decode the password: %w", err)
	}
	return string(b), nil
}
