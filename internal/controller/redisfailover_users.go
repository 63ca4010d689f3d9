package controller

import (
	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
)

// adminAuth is what the operator authenticates to the instances with.
func adminAuth(rf *haredisv1.RedisFailover, st *state) (user, password string) {
	return internalAuth(rf, st, acl.AdminUser, st.internal.Admin)
}

// sentinelAuth is what the sentinels authenticate to the instances with.
func sentinelAuth(rf *haredisv1.RedisFailover, st *state) (user, password string) {
	return internalAuth(rf, st, acl.SentinelUser, st.internal.Sentinel)
}

// internalAuth is user and password on instances with Redis users, else
// the password alone (a RedisFailover created by an earlier haredis);
// nothing without auth.
func internalAuth(rf *haredisv1.RedisFailover, st *state, user, password string) (string, string) {
	switch {
	case !rf.AuthEnabled():
		return "", ""
	case !rf.ACLUsersEnabled():
		return "", st.password
	}
	return user, password
}

// usersNotReady reports, for the ConfigApplied condition, instances whose
// manager could not set up the Redis users (Redis refused the application
// rules, most often).
func usersNotReady(st *state) []string {
	var out []string
	if st.declaredProblem != "" {
		out = append(out, st.declaredProblem)
	}
	for _, n := range st.instances {
		if s := st.statuses[n]; s != nil && s.ACLError != "" {
			out = append(out, n+": "+s.ACLError)
		}
	}
	return out
}
