//go:build tools

// Package seaweedfs pins the SeaweedFS command (weed) that the tests run as
// an S3-compatible object store.
package seaweedfs

import (
	_ "github.com/seaweedfs/seaweedfs/weed"
)
