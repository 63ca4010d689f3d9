package redisinfo

import (
	"fmt"
	"strconv"
)

// Role is the reply of ROLE.
type Role struct {
	// Role is "master", "slave" or "sentinel".
	Role   string
	Offset int64
	// Replica side: the primary it follows and the link state (connect,
	// connecting, sync, connected, handshake).
	MasterHost string
	MasterPort int
	State      string
}

// ParseRole parses the reply of ROLE as go-redis returns it ([]interface{}
// of strings, int64 and nested arrays).
func ParseRole(reply interface{}) (Role, error) {
	arr, ok := reply.([]interface{})
	if !ok || len(arr) == 0 {
		return Role{}, fmt.Errorf("cannot parse ROLE reply %v: not a non-empty array", reply)
	}
	r := Role{Role: str(arr[0])}
	switch r.Role {
	case "master":
		if len(arr) < 2 {
			return r, fmt.Errorf("cannot parse ROLE reply %v: master without offset", reply)
		}
		r.Offset = num(arr[1])
	case "slave":
		if len(arr) < 5 {
			return r, fmt.Errorf("cannot parse ROLE reply %v: replica with %d fields, want 5", reply, len(arr))
		}
		r.MasterHost = str(arr[1])
		r.MasterPort = int(num(arr[2]))
		r.State = str(arr[3])
		r.Offset = num(arr[4])
	case "sentinel":
	default:
		return r, fmt.Errorf("cannot parse ROLE reply %v: unknown role %q", reply, r.Role)
	}
	return r, nil
}

func str(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func num(v interface{}) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
