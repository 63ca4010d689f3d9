//go:build tools

// Package coredns pins the CoreDNS command the test bed builds for cluster DNS.
package coredns

import (
	_ "github.com/coredns/coredns"
)
