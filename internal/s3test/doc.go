// Package s3test runs a real S3-compatible object store for tests and the
// test bed: SeaweedFS (`weed server` with its master, volume server, filer
// and S3 gateway in one process), built from its Go module by `make
// setup-seaweedfs` into bin/. Each server listens on loopback ports of its
// own, keeps its data in a temporary directory, accepts one pair of static
// keys, encrypts on request (SSE-S3, with a random key of its own) and has
// one bucket made before Start returns. It is killed with the process that
// started it (supervise.StartTied) and removed by Stop.
//
// A start takes about 10 s, so a test package starts one server in TestMain
// and gives each test a prefix of its own.
package s3test
