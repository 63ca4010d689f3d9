// Command etcd runs etcd's own server main; the test bed builds it from its Go
// module at a pinned version instead of downloading a release.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
