package instance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/redisconf"
)

func (m *Manager) configPath() string {
	return filepath.Join(stateDir(m.opts.DataDir), "config.json")
}

// loadGroup picks the desired group of the highest generation (instance.json
// or the last PUT /config, persisted on the volume) and checks it with a
// throwaway redis-server. An invalid group never keeps the instance from
// booting: it then boots with the last group that worked, or none, and
// reports the error.
func (m *Manager) loadGroup(ctx context.Context) error {
	var saved savedConfig
	if _, err := readJSON(m.configPath(), &saved); err != nil {
		m.log.Error("ignoring the saved parameter group", "err", err)
		saved = savedConfig{}
	}
	cfg := m.config()
	if saved.MasterName != "" && saved.MasterName != cfg.MasterName {
		// The volume outlived the RedisFailover that set this group: its
		// generations mean nothing to the one that adopted the volume.
		m.log.Info("ignoring the parameter group of another RedisFailover left on the volume", "itsMasterName", saved.MasterName)
		saved = savedConfig{}
	}
	desired, gen := cfg.Config, cfg.ConfigGeneration
	if saved.Desired != nil && saved.Generation > gen {
		desired, gen = saved.Desired, saved.Generation
	}
	gs := instanceapi.GroupState{Generation: gen, Desired: copyMap(desired), Boot: map[string]string{}}
	norm, err := redisconf.NormalizeGroup(desired)
	if err == nil {
		err = m.validate(ctx, norm)
	}
	if err == nil {
		gs.Boot = norm
	} else {
		gs.LastError, gs.LastErrorAt = err.Error(), time.Now()
		if saved.Good != nil {
			gs.Boot = copyMap(saved.Good)
		}
		m.log.Error("the parameter group is invalid; booting with the last group that worked",
			"err", err, "generation", gen, "fallbackHash", redisconf.Hash(gs.Boot))
	}
	if err == nil {
		gs.Desired = norm
	}
	m.mu.Lock()
	m.group = gs
	m.mu.Unlock()
	saved.Desired, saved.Generation = gs.Desired, gs.Generation
	return m.saveConfig(saved)
}

func (m *Manager) saveConfig(s savedConfig) error {
	s.MasterName = m.config().MasterName
	if err := writeJSON(m.configPath(), s); err != nil {
		return fmt.Errorf("cannot save the parameter group: %w", err)
	}
	return nil
}

func (m *Manager) bootGroup() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copyMap(m.group.Boot)
}

// bootStarted records that redis-server runs with group, which therefore
// worked and becomes the fallback for an invalid group later.
func (m *Manager) bootStarted(group map[string]string) {
	m.mu.Lock()
	m.group.InForce = copyMap(group)
	m.group.RestartRequired = nil
	gs := m.group
	m.mu.Unlock()
	saved := savedConfig{Generation: gs.Generation, Desired: gs.Desired, Good: group, GoodGeneration: gs.Generation}
	if err := m.saveConfig(saved); err != nil {
		m.log.Error("cannot record the parameter group in force", "err", err)
	}
}

// Error kinds of ApplyGroup, for HTTP status codes.
var (
	ErrInvalidGroup  = errors.New("invalid parameter group")
	ErrOldGeneration = errors.New("older generation")
	ErrRedisRefused  = errors.New("redis refused")
)

// ApplyGroup makes group the desired parameter group: it checks it with a
// throwaway redis-server, applies what Redis can change at run time with one
// CONFIG SET (atomic in Redis 7: all or nothing), and keeps the rest for the
// next start. When Redis refuses, nothing changes and the error carries
// Redis's own message.
func (m *Manager) ApplyGroup(ctx context.Context, generation int64, group map[string]string) (instanceapi.ApplyResult, error) {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	norm, err := redisconf.NormalizeGroup(group)
	if err != nil {
		return instanceapi.ApplyResult{}, fmt.Errorf("%w: %w", ErrInvalidGroup, err)
	}
	m.mu.Lock()
	cur := m.group
	running := m.proc != nil && !m.proc.Exited() && cur.InForce != nil
	m.mu.Unlock()
	if generation != 0 && generation < cur.Generation {
		return instanceapi.ApplyResult{}, fmt.Errorf("%w: generation %d is older than %d in force", ErrOldGeneration, generation, cur.Generation)
	}
	if generation == 0 {
		// Unordered: keep the generation so that an older ConfigMap still
		// loses at the next start of the manager.
		generation = cur.Generation
	}
	t, err := m.startThrowaway(ctx, norm)
	if err != nil {
		m.recordGroupError(err)
		return instanceapi.ApplyResult{}, err
	}
	defer t.close()

	res := instanceapi.ApplyResult{Generation: generation, Applied: map[string]string{}, Running: running, Hash: redisconf.Hash(norm)}
	inForce := copyMap(cur.InForce)
	if running {
		live, restart, err := m.classify(ctx, t, cur.InForce, norm)
		if err != nil {
			m.recordGroupError(err)
			return instanceapi.ApplyResult{}, err
		}
		if len(live) > 0 {
			if err := m.configSet(ctx, live); err != nil {
				m.recordGroupError(err)
				return instanceapi.ApplyResult{}, err
			}
		}
		for k, v := range live {
			if _, set := norm[k]; set {
				inForce[k], res.Applied[k] = v, v
			} else {
				delete(inForce, k)
				res.Applied[k] = ""
			}
		}
		res.RestartRequired = restart
	}
	base := canonical(ctx, t, norm)
	m.mu.Lock()
	m.group.Generation, m.group.Desired, m.group.Boot = generation, copyMap(norm), copyMap(norm)
	if running {
		m.group.InForce, m.group.RestartRequired = inForce, res.RestartRequired
	}
	m.group.LastError, m.group.LastErrorAt = "", time.Time{}
	m.drift.baseline = base
	m.mu.Unlock()
	saved := savedConfig{Generation: generation, Desired: norm, Good: norm, GoodGeneration: generation}
	if err := m.saveConfig(saved); err != nil {
		return res, err
	}
	m.log.Info("parameter group changed", "generation", generation, "hash", res.Hash,
		"applied", slices.Sorted(maps.Keys(res.Applied)), "restartRequired", res.RestartRequired, "running", running)
	return res, nil
}

// classify returns the values to CONFIG SET on the running server for every
// parameter that differs between inForce and next (a removed parameter gets
// the value the throwaway, running next, reports: its default), and the
// parameters that need a restart, found by trying them on the throwaway.
func (m *Manager) classify(ctx context.Context, t *throwaway, inForce, next map[string]string) (map[string]string, []string, error) {
	changed := map[string]bool{}
	for k, v := range next {
		if old, ok := inForce[k]; !ok || old != v {
			changed[k] = true
		}
	}
	for k := range inForce {
		if _, ok := next[k]; !ok {
			changed[k] = true
		}
	}
	live := map[string]string{}
	var restart []string
	for _, k := range slices.Sorted(maps.Keys(changed)) {
		v, set := next[k]
		if !set {
			got, err := t.client.ConfigGet(ctx, k).Result()
			if err != nil {
				return nil, nil, fmt.Errorf("cannot read the default of %s: %w", k, err)
			}
			d, ok := got[k]
			if !ok {
				restart = append(restart, k)
				continue
			}
			v = d
		}
		err := t.client.ConfigSet(ctx, k, v).Err()
		switch {
		case err == nil:
			live[k] = v
		case strings.Contains(err.Error(), "immutable config") || strings.Contains(err.Error(), "protected config"):
			restart = append(restart, k)
		default:
			return nil, nil, &RefusedError{Message: err.Error()}
		}
	}
	sort.Strings(restart)
	return live, restart, nil
}

// configSet applies every parameter with one CONFIG SET, which Redis 7
// applies atomically: when it refuses one, none changes. Its error is
// Redis's own message.
func (m *Manager) configSet(ctx context.Context, params map[string]string) error {
	c, err := m.redisClient.client()
	if err != nil {
		return err
	}
	args := []interface{}{"CONFIG", "SET"}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, k, params[k])
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) {
			return &RefusedError{Message: err.Error()}
		}
		return fmt.Errorf("cannot apply the parameter group: %w", err)
	}
	return nil
}

// SetDurability changes min-replicas-to-write and min-replicas-max-lag on
// the running redis-server and for its next starts. The operator lowers it
// before it removes replicas, so that a primary never refuses writes for
// want of replicas that are gone on purpose.
func (m *Manager) SetDurability(ctx context.Context, d instanceapi.Durability) error {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	if d.MaxLagSeconds == 0 {
		d.MaxLagSeconds = 10
	}
	m.mu.Lock()
	cur := m.durability
	running := m.proc != nil && !m.proc.Exited()
	live := m.observed.Durability
	m.mu.Unlock()
	if cur.MaxLagSeconds == 0 {
		cur.MaxLagSeconds = 10
	}
	// Also when the running server has other values (someone changed them
	// behind the manager's back): the request says what must be in force.
	if cur == d && (!running || live == nil || *live == d) {
		return nil
	}
	if running {
		c, err := m.redisClient.client()
		if err != nil {
			return err
		}
		err = c.Do(ctx, "CONFIG", "SET", "min-replicas-to-write", strconv.Itoa(d.MinReplicasToWrite),
			"min-replicas-max-lag", strconv.Itoa(d.MaxLagSeconds)).Err()
		if err != nil {
			return fmt.Errorf("cannot change min-replicas-to-write: %w", err)
		}
	}
	m.mu.Lock()
	m.durability = d
	if running && m.observed.Up {
		// What the server has now, until the next poll reads it again: the
		// operator compares it with the spec.
		live := d
		m.observed.Durability = &live
	}
	m.mu.Unlock()
	m.log.Info("durability changed", "minReplicasToWrite", d.MinReplicasToWrite, "maxLagSeconds", d.MaxLagSeconds, "running", running)
	return nil
}

func (m *Manager) recordGroupError(err error) {
	m.mu.Lock()
	m.group.LastError, m.group.LastErrorAt = err.Error(), time.Now()
	m.mu.Unlock()
}

// Group returns the parameter group state.
func (m *Manager) Group() instanceapi.GroupState {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.group
	g.Desired, g.Boot, g.InForce = copyMap(g.Desired), copyMap(g.Boot), copyMap(g.InForce)
	g.RestartRequired = slices.Clone(g.RestartRequired)
	return g
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}
