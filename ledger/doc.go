// Package ledger is the factory ledger: the identities a production line hands out (a file id
// or serial with its VALUES.csv row), the chip each one is bound to by MAC address, what was
// written to it (SHA-256 of the image, certificate fingerprint and serial, keys fingerprint)
// and whether it was verified, and an append-only table of every event.
//
// One interface, Ledger, has two implementations with the same schema: an embedded SQLite
// database in a file (a pure-Go driver, so builds without cgo keep working), for one station
// or the stations of one host, and PostgreSQL, for stations that share one ledger. Open
// chooses by the DSN: a postgres:// or postgresql:// URL, or a file path. Init applies the
// versioned migrations; every other method refuses a ledger whose schema is not current.
//
// Claim is the heart of it. In one transaction it returns the identity already bound to the
// chip's MAC, if any, or binds the next available identity to that MAC. An identity bound to
// a MAC never goes to another (only Release, an operator's decision, unbinds a failed one),
// so a station that crashes at any point and starts again finds its device's identity where
// it left it. On PostgreSQL concurrent claims take rows with FOR UPDATE SKIP LOCKED, in READ
// COMMITTED transactions whatever the database's default, and a claim that finds every
// available identity locked by claims in progress waits for them instead of reporting the
// ledger exhausted; on
// SQLite every write transaction starts with BEGIN IMMEDIATE and waits on a busy timeout, so
// the stations of one host are serialised.
//
// Private keys are never stored: only fingerprints.
package ledger
