package redisinfo

import (
	"fmt"
	"strconv"
	"strings"
)

// Info holds the fields of an INFO reply by name (sections flattened; field
// names are unique across sections).
type Info map[string]string

// ParseInfo parses the text of INFO. Section headers, blank lines and lines
// without a colon are skipped.
func ParseInfo(text string) Info {
	info := Info{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		info[k] = v
	}
	return info
}

// Int returns a numeric field, or def when it is absent or not a number.
func (i Info) Int(name string, def int64) int64 {
	n, err := strconv.ParseInt(i[name], 10, 64)
	if err != nil {
		return def
	}
	return n
}

// Float returns a decimal field, or def when it is absent or not a number.
func (i Info) Float(name string, def float64) float64 {
	f, err := strconv.ParseFloat(i[name], 64)
	if err != nil {
		return def
	}
	return f
}

// Stats are the figures of INFO that metrics show: clients, memory,
// keyspace traffic and persistence.
type Stats struct {
	ConnectedClients int64
	// UsedMemory and UsedMemoryRSS in bytes; Fragmentation is
	// mem_fragmentation_ratio.
	UsedMemory, UsedMemoryRSS int64
	Fragmentation             float64
	EvictedKeys, ExpiredKeys  int64
	KeyspaceHits              int64
	KeyspaceMisses            int64
	// RDBLastSave is rdb_last_save_time (Unix seconds); RDBLastBgsaveOK and
	// AOFLastWriteOK say whether the last background save and the last
	// append-only write succeeded.
	RDBLastSave     int64
	RDBLastBgsaveOK bool
	AOFEnabled      bool
	AOFLastWriteOK  bool
	// AOFRewriting: an append-only rewrite runs or is scheduled (also the
	// first one, when the file was just turned on and holds nothing yet).
	AOFRewriting bool
	// MasterLastIOSecondsAgo is a replica's seconds since its primary last
	// sent anything (-1 on a primary or when unknown).
	MasterLastIOSecondsAgo int64
}

// Stats reads the figures metrics show.
func (i Info) Stats() Stats {
	return Stats{
		ConnectedClients: i.Int("connected_clients", 0),
		UsedMemory:       i.Int("used_memory", 0), UsedMemoryRSS: i.Int("used_memory_rss", 0),
		Fragmentation: i.Float("mem_fragmentation_ratio", 0),
		EvictedKeys:   i.Int("evicted_keys", 0), ExpiredKeys: i.Int("expired_keys", 0),
		KeyspaceHits: i.Int("keyspace_hits", 0), KeyspaceMisses: i.Int("keyspace_misses", 0),
		RDBLastSave:            i.Int("rdb_last_save_time", 0),
		RDBLastBgsaveOK:        i["rdb_last_bgsave_status"] != "err",
		AOFEnabled:             i["aof_enabled"] == "1",
		AOFLastWriteOK:         i["aof_last_write_status"] != "err",
		AOFRewriting:           i["aof_rewrite_in_progress"] == "1" || i["aof_rewrite_scheduled"] == "1",
		MasterLastIOSecondsAgo: i.Int("master_last_io_seconds_ago", -1),
	}
}

// ReplicaLink is one replica as its primary sees it (INFO slaveN).
type ReplicaLink struct {
	IP     string `json:"ip"`
	Port   int    `json:"port"`
	State  string `json:"state"`
	Offset int64  `json:"offset"`
	Lag    int64  `json:"lag"`
}

// Replication is the replication section of INFO.
type Replication struct {
	// Role is "master" or "slave", as Redis says it.
	Role string
	// Offset is master_repl_offset: for a replica, what it has processed.
	Offset int64
	ReplID string
	// ReplID2 and SecondOffset: the history this one continued, up to
	// SecondOffset-1 (second_repl_offset; -1 when none).
	ReplID2      string
	SecondOffset int64
	// Replica side.
	MasterHost             string
	MasterPort             int
	LinkUp                 bool
	SyncInProgress         bool
	MasterLastIOSecondsAgo int64
	// Priority is replica-priority (slave_priority); -1 when not reported.
	Priority int
	// Primary side.
	ConnectedReplicas int
	Replicas          []ReplicaLink
	// GoodReplicas is min_slaves_good_slaves, -1 when Redis does not report
	// it (min-replicas-to-write is 0).
	GoodReplicas int
}

// Replication extracts the replication section.
func (i Info) Replication() (Replication, error) {
	r := Replication{
		Role:                   i["role"],
		Offset:                 i.Int("master_repl_offset", 0),
		ReplID:                 i["master_replid"],
		ReplID2:                i["master_replid2"],
		SecondOffset:           i.Int("second_repl_offset", -1),
		Priority:               int(i.Int("slave_priority", -1)),
		MasterHost:             i["master_host"],
		MasterPort:             int(i.Int("master_port", 0)),
		LinkUp:                 i["master_link_status"] == "up",
		SyncInProgress:         i["master_sync_in_progress"] == "1",
		MasterLastIOSecondsAgo: i.Int("master_last_io_seconds_ago", -1),
		ConnectedReplicas:      int(i.Int("connected_slaves", 0)),
		GoodReplicas:           int(i.Int("min_slaves_good_slaves", -1)),
	}
	if r.Role != "master" && r.Role != "slave" {
		return r, fmt.Errorf("cannot read replication info: role %q is neither master nor slave", r.Role)
	}
	for n := 0; n < r.ConnectedReplicas; n++ {
		line, ok := i[fmt.Sprintf("slave%d", n)]
		if !ok {
			continue
		}
		r.Replicas = append(r.Replicas, parseReplicaLink(line))
	}
	return r, nil
}

// parseReplicaLink parses "ip=10.0.0.2,port=6379,state=online,offset=42,lag=0".
func parseReplicaLink(line string) ReplicaLink {
	var l ReplicaLink
	for _, kv := range strings.Split(line, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "ip":
			l.IP = v
		case "port":
			l.Port, _ = strconv.Atoi(v)
		case "state":
			l.State = v
		case "offset":
			l.Offset, _ = strconv.ParseInt(v, 10, 64)
		case "lag":
			l.Lag, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return l
}

// Keys sums the keys of every database in the keyspace section.
func (i Info) Keys() int64 {
	var total int64
	for k, v := range i {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		if _, err := strconv.Atoi(k[2:]); err != nil {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(kv, "keys="); ok {
				c, _ := strconv.ParseInt(n, 10, 64)
				total += c
			}
		}
	}
	return total
}

// Loading reports whether Redis is loading its data set from disk.
func (i Info) Loading() bool { return i["loading"] == "1" }
