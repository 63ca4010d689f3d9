// Package bootrole decides the role an instance boots with, before its
// redis-server starts: primary, replica of a named primary, or wait. It is a
// pure function of observed facts (own data, the sentinels' answers, the
// peers' roles, the primary the operator recorded) so that every safety rule
// is a row of a table test. Gathering the facts is the instance manager's job.
package bootrole
