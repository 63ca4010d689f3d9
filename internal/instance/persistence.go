package instance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redisconf"
	"github.com/haredis/haredis/internal/redisinfo"
	"github.com/haredis/haredis/internal/supervise"
)

// loadPlan says how redis-server loads the volume when the persistence mode
// changed. Redis loads only the files of the mode it starts in: with
// appendonly yes and no append-only file it starts empty (and writes an
// empty one), with appendonly no it ignores the append-only files. So a
// changed spec.redis.persistence must start redis-server in the mode of
// the files on the volume and switch modes live, or a single instance
// would come back empty.
type loadPlan struct {
	// renderAs is the mode redis.conf is rendered in for this start.
	renderAs string
	// convertTo is the configured mode to switch to once the data is
	// loaded; "" when no switch is needed.
	convertTo string
}

func (p loadPlan) describe() string {
	if p.convertTo == "" {
		return p.renderAs
	}
	return fmt.Sprintf("%s files, converting to %s", p.renderAs, p.convertTo)
}

// prepareLoad picks the mode to start in for configured persistence.
func (m *Manager) prepareLoad(configured string) (loadPlan, error) {
	dir := m.opts.DataDir
	aof := hasAOF(dir)
	rdbInfo, rdbErr := os.Stat(filepath.Join(dir, "dump.rdb"))
	rdb := rdbErr == nil
	own, _, err := inspectDataDir(dir)
	if err != nil {
		return loadPlan{}, err
	}
	plan := loadPlan{renderAs: configured}
	switch configured {
	case instanceconfig.PersistenceAOF:
		if !aof && rdb && own.HasData {
			plan = loadPlan{renderAs: instanceconfig.PersistenceRDB, convertTo: configured}
		}
	default:
		if aof && own.HasData && (!rdb || newestIn(filepath.Join(dir, "appendonlydir")).After(rdbInfo.ModTime())) {
			plan = loadPlan{renderAs: instanceconfig.PersistenceAOF, convertTo: configured}
		}
	}
	return plan, nil
}

func newestIn(dir string) time.Time {
	var t time.Time
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().After(t) {
			t = info.ModTime()
		}
	}
	return t
}

// convertPersistence switches the running server to plan.convertTo once it
// has loaded its data: CONFIG SET appendonly (Redis writes a new
// append-only file from memory) or a BGSAVE, then removes the files of the
// old mode, which would otherwise be loaded again (stale) at a later start.
// On failure nothing is removed and the next start tries again.
func (m *Manager) convertPersistence(proc *supervise.Process, plan loadPlan) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-proc.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	log := m.log.With("from", plan.renderAs, "to", plan.convertTo)
	if err := m.convert(ctx, plan); err != nil {
		log.Error("cannot change the persistence mode; the next start tries again", "err", err)
		return
	}
	log.Info("changed the persistence mode with the data kept")
}

func (m *Manager) convert(ctx context.Context, plan loadPlan) error {
	c, err := m.redisClient.client()
	if err != nil {
		return err
	}
	info := func() (redisinfo.Info, error) {
		text, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return nil, err
		}
		return redisinfo.ParseInfo(text), nil
	}
	// Wait until the data is loaded.
	if err := pollUntil(ctx, 100*time.Millisecond, func() error {
		i, err := info()
		if err != nil {
			return err
		}
		if i["loading"] == "1" {
			return fmt.Errorf("still loading")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("cannot wait for the data to load: %w", err)
	}
	save := m.bootGroup()["save"]
	if _, set := m.bootGroup()["save"]; !set {
		save = redisconf.PersistenceDefault(plan.convertTo, "save")
	}
	dir := m.opts.DataDir
	switch plan.convertTo {
	case instanceconfig.PersistenceAOF:
		if err := c.ConfigSet(ctx, "save", save).Err(); err != nil {
			return fmt.Errorf("cannot set save: %w", err)
		}
		if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
			return fmt.Errorf("cannot turn the append-only file on: %w", err)
		}
		return pollUntil(ctx, 100*time.Millisecond, func() error {
			i, err := info()
			if err != nil {
				return err
			}
			if i["aof_enabled"] != "1" || i["aof_rewrite_in_progress"] != "0" || i["aof_rewrite_scheduled"] != "0" {
				return fmt.Errorf("the append-only file is being written")
			}
			if i["aof_last_bgrewrite_status"] != "ok" {
				return fmt.Errorf("writing the append-only file failed")
			}
			if !hasAOF(dir) {
				return fmt.Errorf("no append-only manifest yet")
			}
			return nil
		})
	default:
		before := time.Now().Unix()
		m.dropHead()
		if err := c.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
			return fmt.Errorf("cannot turn the append-only file off: %w", err)
		}
		if err := c.ConfigSet(ctx, "save", save).Err(); err != nil {
			return fmt.Errorf("cannot set save: %w", err)
		}
		if plan.convertTo == instanceconfig.PersistenceRDB {
			if err := pollUntil(ctx, 200*time.Millisecond, func() error {
				err := c.BgSave(ctx).Err()
				if err != nil && !isBusy(err) {
					return err
				}
				return nil
			}); err != nil {
				return fmt.Errorf("cannot start a snapshot: %w", err)
			}
			if err := pollUntil(ctx, 100*time.Millisecond, func() error {
				i, err := info()
				if err != nil {
					return err
				}
				if i["rdb_bgsave_in_progress"] != "0" || i.Int("rdb_last_save_time", 0) < before {
					return fmt.Errorf("the snapshot is being written")
				}
				if i["rdb_last_bgsave_status"] != "ok" {
					return fmt.Errorf("the snapshot failed")
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := os.RemoveAll(filepath.Join(dir, "appendonlydir")); err != nil {
			return fmt.Errorf("cannot remove the append-only files: %w", err)
		}
		if plan.convertTo == instanceconfig.PersistenceNone {
			// Nothing on disk: an older snapshot must not come back at
			// the next start as if it were the data.
			if err := os.Remove(filepath.Join(dir, "dump.rdb")); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("cannot remove the snapshot: %w", err)
			}
		}
		return nil
	}
}

func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "in progress") || strings.Contains(s, "already")
}

// pollUntil calls cond every interval until it returns nil or ctx ends.
func pollUntil(ctx context.Context, interval time.Duration, cond func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
