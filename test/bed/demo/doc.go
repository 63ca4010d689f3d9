// Package demo runs the bed in the background for people: `haredis-bed up`
// starts a daemon that owns a bed and a sample Redis, `down` stops it and
// removes everything, `status` shows it. The daemon's address book lives in
// InfoPath.
package demo
