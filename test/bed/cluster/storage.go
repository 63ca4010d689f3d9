package cluster

import (
	"context"
	"path/filepath"

	"github.com/haredis/haredis/test/bed/storage"
)

func (c *Cluster) startStorage(ctx context.Context) error {
	p, err := storage.Start(ctx, c.Client, filepath.Join(c.Dir, "volumes"), c.log.WithName("storage"))
	if err != nil {
		return err
	}
	c.storage = p
	return nil
}
